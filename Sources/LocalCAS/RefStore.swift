import FoundationEssentials
import Glibc

/// Named references to tree digests: `ROOT/refs/NAME` holds `HASH/SIZE`.
///
/// A name is one or more `/`-separated components of letters, digits and `._+-@=`; no
/// component is empty, `.` or `..`, so a name can never point outside `refs/`. Writes are
/// atomic (temp file + rename), so concurrent writers leave one complete value.
public struct RefStore: Sendable {
    public let directory: String

    public init(root: String) throws(CASError) {
        directory = root + "/refs"
        try LocalContentStore.makeDirectory(root)
        try LocalContentStore.makeDirectory(directory)
    }

    /// Checks a ref name; throws `.invalidArgument` saying what is wrong.
    public static func validate(_ name: String) throws(CASError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-@=".utf8)
        guard !name.isEmpty, name.utf8.count <= 1024 else {
            throw CASError(.invalidArgument, "invalid ref name '\(name)': must be 1 to 1024 characters")
        }
        for component in name.split(separator: "/", omittingEmptySubsequences: false) {
            guard !component.isEmpty, component != ".", component != ".." else {
                throw CASError(.invalidArgument, "invalid ref name '\(name)': empty, '.' or '..' component")
            }
            guard component.utf8.allSatisfy(allowed.contains) else {
                throw CASError(.invalidArgument, "invalid ref name '\(name)': only letters, digits, '/' and ._+-@= are allowed")
            }
        }
    }

    /// Points `name` at `digest`, replacing any previous value.
    public func set(_ name: String, to digest: Digest) throws(CASError) {
        try Self.validate(name)
        let path = directory + "/" + name
        var dir = directory
        for component in name.split(separator: "/").dropLast() {
            dir += "/" + component
            try LocalContentStore.makeDirectory(dir)
        }
        do {
            try AtomicFile.write(Data("\(digest)\n".utf8), to: path)
        } catch {
            throw CASError(.io, "cannot write ref '\(name)'", cause: error)
        }
    }

    /// The digest `name` points at.
    /// - Throws: `.notFound` for an unknown ref, `.corrupt` for an unreadable one.
    public func get(_ name: String) throws(CASError) -> Digest {
        try Self.validate(name)
        guard let data = FileManager.default.contents(atPath: directory + "/" + name) else {
            throw CASError(.notFound, "unknown ref '\(name)'")
        }
        let text = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace)
            .map(String.init).first ?? ""
        do {
            return try Digest(parsing: text)
        } catch {
            throw CASError(.corrupt, "ref file \(directory)/\(name) is damaged", cause: error)
        }
    }

    /// Removes `name`. Throws `.notFound` if it does not exist.
    public func delete(_ name: String) throws(CASError) {
        try Self.validate(name)
        guard unlink(directory + "/" + name) == 0 else {
            throw CASError(.notFound, "unknown ref '\(name)'")
        }
    }

    /// Every ref, sorted by name. Damaged ref files are skipped.
    public func list() -> [(name: String, digest: Digest)] {
        guard let paths = try? FileManager.default.subpathsOfDirectory(atPath: directory) else { return [] }
        var result: [(String, Digest)] = []
        for relative in paths {
            guard (try? Self.validate(relative)) != nil, !relative.contains(".tmp."),
                  let digest = try? get(relative) else { continue }
            result.append((relative, digest))
        }
        return result.sorted { $0.0 < $1.0 }
    }
}
