import LocalCAS

/// Files that one staged dependency overwrites in another, as BuildStream's overlap collector
/// reports them: within one staging location, a file or symlink written by an earlier element
/// and again by a later one. The later element may allow it with its `overlap-whitelist`
/// (globs of absolute paths); what is left is the `overlaps` warning, fatal when the project
/// lists `overlaps` in `fatal-warnings`.
struct StagingOverlaps {
    let store: any DirectoryStore

    /// One file written twice.
    struct Overlap: Sendable, CustomStringConvertible {
        var path: String
        var earlier: String
        var later: String
        var description: String { "\(path): \(later) overlaps files previously staged by \(earlier)" }
    }

    /// The overlaps of `layers` (element name, artifact root) staged in order at `location`,
    /// leaving out those the later element's whitelist allows.
    func find(_ layers: [(name: String, root: Digest)], at location: String, whitelists: [String: [GlobPattern]]) throws(CASError) -> [Overlap] {
        var writer: [String: String] = [:]
        var overlaps: [Overlap] = []
        let base = location == "/" ? "" : location
        for (name, root) in layers {
            for path in try files(under: root) {
                let absolute = base + "/" + path
                if let earlier = writer[path], earlier != name,
                   !(whitelists[name] ?? []).contains(where: { $0.matches("/" + path) }) {
                    overlaps.append(Overlap(path: absolute, earlier: earlier, later: name))
                }
                writer[path] = name
            }
        }
        return overlaps
    }

    private func files(under root: Digest, prefix: String = "") throws(CASError) -> [String] {
        let directory = try store.directory(root)
        var result = directory.files.map { prefix + $0.name.name } + directory.symlinks.map { prefix + $0.name.name }
        for sub in directory.directories { result += try files(under: sub.digest, prefix: prefix + sub.name.name + "/") }
        return result
    }
}
