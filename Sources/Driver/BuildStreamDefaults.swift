/// Access to the vendored defaults (see `Vendor/README.md`).
extension BuildStreamDefaults {
    /// The parsed file at `path` under `Vendor/` (`buildstream/projectconfig.yaml`).
    static func node(_ path: String) throws(ProjectError) -> YAMLNode {
        guard let text = files[path] else { throw ProjectError("lazycas carries no default file \(path)") }
        return try YAMLNode.parse(text, shownAs: String(path.split(separator: "/").last!))
    }

    /// The default configuration of element kind `kind`, or an empty mapping for a kind without one.
    static func element(_ kind: String) throws(ProjectError) -> YAMLNode {
        for origin in ["buildstream", "buildstream-plugins"] where files["\(origin)/elements/\(kind).yaml"] != nil {
            return try node("\(origin)/elements/\(kind).yaml")
        }
        return .emptyMapping(at: "\(kind).yaml")
    }
}
