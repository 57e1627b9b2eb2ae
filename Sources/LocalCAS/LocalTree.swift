import FoundationEssentials

/// Read access to trees whose Directory nodes are in a ``LocalContentStore``: lookups by path,
/// and the common questions a ``TreeWalk`` answers. Never touches the network.
public struct LocalTree: Sendable {
    public let store: LocalContentStore

    public init(store: LocalContentStore) {
        self.store = store
    }

    /// The validated Directory node `digest`.
    /// - Throws: `.notFound` if it is not local, `.corrupt` if it does not parse or validate.
    public func directory(_ digest: Digest) throws(CASError) -> ValidatedDirectory {
        let data = try store.read(digest)
        return try ValidatedDirectory(serialized: data, digest: digest)
    }

    /// An entry found by ``resolve(_:path:)``.
    public enum Entry: Sendable {
        case directory(Digest)
        case file(ValidatedDirectory.File)
        case symlink(ValidatedDirectory.Symlink)
    }

    /// Follows `path` (components separated by `/`, no symlinks followed) from `root`.
    /// - Throws: `.notFound` naming the first component that does not exist.
    public func resolve(_ root: Digest, path: String) throws(CASError) -> Entry {
        var current = Entry.directory(root)
        var walked = ""
        for component in path.split(separator: "/") where component != "." {
            guard case .directory(let digest) = current else {
                throw CASError(.notFound, "'\(walked)' is not a directory")
            }
            let dir = try directory(digest)
            let name = String(component)
            walked += walked.isEmpty ? name : "/" + name
            if let d = dir.directories.first(where: { $0.name.name == name }) {
                current = .directory(d.digest)
            } else if let f = dir.files.first(where: { $0.name.name == name }) {
                current = .file(f)
            } else if let s = dir.symlinks.first(where: { $0.name.name == name }) {
                current = .symlink(s)
            } else {
                throw CASError(.notFound, "no '\(walked)' in tree \(root)")
            }
        }
        return current
    }

    /// Directory digests reachable from `root` that are not local (a tree is complete when
    /// this is empty). Stops descending at missing nodes.
    public func missingDirectories(under root: Digest) throws(CASError) -> [Digest] {
        try TreeWalk.local(root, in: store).absentNodes()
    }

    /// The digests of every Directory node and every file blob under `root`, each once. Every
    /// Directory node must be local.
    public func digests(under root: Digest) throws(CASError) -> (directories: Set<Digest>, files: Set<Digest>) {
        try TreeWalk.local(root, in: store).contents()
    }

    /// Calls `visit` for every file in the tree with its path relative to the root. Every
    /// Directory node must be local.
    public func forEachFile(under root: Digest, _ visit: (String, ValidatedDirectory.File) throws -> Void) throws {
        try TreeWalk.local(root, in: store).forEachFile(visit)
    }
}
