import LocalCAS
import Synchronization

/// The entries of one Directory node in `readdir` order (byte order of names, as REAPI sorts
/// them), with a name index for lookups. Immutable, like the node it comes from.
public struct DirectoryListing: Sendable {
    public struct Child: Sendable {
        public let name: String
        public let node: Node
    }

    public let children: [Child]
    public let subdirectoryCount: Int
    private let index: [String: Int]

    init(_ dir: ValidatedDirectory) {
        var children: [Child] = []
        children.reserveCapacity(dir.files.count + dir.directories.count + dir.symlinks.count)
        for d in dir.directories { children.append(Child(name: d.name.name, node: .directory(d.digest))) }
        for f in dir.files { children.append(Child(name: f.name.name, node: .file(digest: f.digest, isExecutable: f.isExecutable))) }
        for s in dir.symlinks { children.append(Child(name: s.name.name, node: .symlink(target: s.target))) }
        children.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        self.children = children
        subdirectoryCount = dir.directories.count
        var index: [String: Int] = [:]
        index.reserveCapacity(children.count)
        for (i, c) in children.enumerated() { index[c.name] = i }
        self.index = index
    }

    public func child(named name: String) -> Child? {
        index[name].map { children[$0] }
    }

    /// The children that come after `name` in readdir order (all of them if it is absent).
    func children(after name: String) -> ArraySlice<Child> {
        guard let i = index[name] else { return children[...] }
        return children[(i + 1)...]
    }
}

/// Parsed listings by Directory digest, so each node is read and validated once.
final class DirectoryListingCache: Sendable {
    private let tree: LocalTree
    private let listings = Mutex<[Digest: DirectoryListing]>([:])

    init(tree: LocalTree) {
        self.tree = tree
    }

    /// Adds listings of Directory nodes that are not (yet) in the store.
    func seed(_ directories: some Sequence<(Digest, ValidatedDirectory)>) {
        let parsed = directories.map { ($0.0, DirectoryListing($0.1)) }
        listings.withLock { l in for (d, listing) in parsed { l[d] = listing } }
    }

    func listing(_ digest: Digest) throws(CASError) -> DirectoryListing {
        if let cached = listings.withLock({ $0[digest] }) { return cached }
        let listing = DirectoryListing(try tree.directory(digest))
        listings.withLock { $0[digest] = listing }
        return listing
    }
}
