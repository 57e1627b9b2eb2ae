/// The name BuildStream 2 gives an artifact: `PROJECT/ELEMENT/KEY`, where ELEMENT is the
/// element's *normal name* (`dir/foo.bst` → `dir-foo`; characters outside `[0-9A-Za-z-._]`
/// become `_`) and KEY a 64-hex cache key. It names the ref file in BuildStream's local cache
/// (`CACHEDIR/artifacts/refs/PROJECT/ELEMENT/KEY`) and, inside BuildStream's artifact URN, the
/// Remote Asset an artifact server maps to the `Artifact` proto.
public struct BuildStreamArtifactName: Sendable, Hashable, CustomStringConvertible {
    public let project: String
    /// The normal name.
    public let element: String
    public let key: String

    /// `element` may be an element name (`hello.bst`, `dir/foo.bst`) or already normal.
    public init(project: String, element: String, key: String) {
        self.project = project
        self.element = Self.normalName(of: element)
        self.key = key
    }

    /// Parses `PROJECT/ELEMENT/KEY` (ELEMENT may be written `hello.bst`); nil when `text` does
    /// not have that shape.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 3, let key = parts.last, Self.isKey(key), !parts[0].isEmpty else { return nil }
        let element = parts[1..<(parts.count - 1)].joined(separator: "/")
        guard !element.isEmpty else { return nil }
        self.init(project: parts[0], element: element, key: key)
    }

    /// BuildStream's `_get_normal_name` (element.py): `/` → `-`, the extension dropped, then
    /// anything but letters, digits and `-._` → `_`.
    public static func normalName(of element: String) -> String {
        var name = element.replacingOccurrences(of: "/", with: "-")
        if let dot = name.lastIndex(of: "."), dot != name.startIndex { name = String(name[..<dot]) }
        return String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0)) ? $0 : "_" })
    }

    /// Whether `text` is a cache key: 64 lowercase hex digits.
    public static func isKey(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    public var description: String { "\(project)/\(element)/\(key)" }

    /// The Remote Asset URI BuildStream pushes and fetches this artifact under.
    public var urn: String { "urn:fdc:buildstream.build:2020:artifact:\(description)" }

    /// The ref file under a BuildStream cache directory.
    public func refPath(in cacheDirectory: String) -> String {
        "\(cacheDirectory)/artifacts/refs/\(description)"
    }
}
