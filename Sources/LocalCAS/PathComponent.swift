/// One validated name inside a directory: non-empty, no `/`, no NUL, not `.` or `..`.
///
/// Names in Directory nodes come from the network and are untrusted; they are checked once,
/// here, and everything past this point can join them into paths safely.
public struct PathComponent: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) throws(CASError) {
        if let problem = PathComponent.problem(with: name) {
            throw CASError(.corrupt, "invalid name '\(name)': \(problem)")
        }
        self.name = name
    }

    /// Says what is wrong with `name` as a single path component, or nil if nothing is.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "empty" }
        if name == "." || name == ".." { return "'.' and '..' are not allowed" }
        if name.utf8.contains(UInt8(ascii: "/")) { return "contains '/'" }
        if name.utf8.contains(0) { return "contains NUL" }
        return nil
    }

    public var description: String { name }

    /// REAPI sorts names by their UTF-8 bytes (code point order).
    public static func < (a: PathComponent, b: PathComponent) -> Bool {
        a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
    }
}
