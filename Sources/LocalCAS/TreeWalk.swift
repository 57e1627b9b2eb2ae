import FoundationEssentials

/// The one walk over a tree of Directory nodes: every node reachable from a root, each distinct
/// node once, or every file entry with its path. Nodes come from a source: the local store
/// (``local(_:in:plus:)``: the partial CAS, optionally with nodes held in memory in front of it)
/// or whatever a caller supplies (a server that pins each node before it reads it).
///
/// A node the source does not have is *absent*: reported, and not descended into, so the same
/// walk answers "what is still missing" and "what does this tree hold".
public struct TreeWalk {
    /// The root Directory.
    public let root: Digest
    /// The node `digest`, or nil if it is absent. Throws for a node that is present but broken.
    private let node: (Digest) throws(CASError) -> ValidatedDirectory?

    public init(root: Digest, nodes: @escaping (Digest) throws(CASError) -> ValidatedDirectory?) {
        self.root = root
        self.node = nodes
    }

    /// A walk over nodes of the local store `store`, with `plus` (nodes not stored yet) in front.
    public static func local(_ root: Digest, in store: LocalContentStore,
                             plus memory: [Digest: ValidatedDirectory] = [:]) -> TreeWalk {
        let tree = LocalTree(store: store)
        return TreeWalk(root: root) { digest throws(CASError) in
            if let held = memory[digest] { return held }
            guard store.contains(digest) else { return nil }
            return try tree.directory(digest)
        }
    }

    /// The order nodes are visited in: parents always come before their children.
    public enum Order: Sendable {
        /// Depth first (a stack): the cheapest.
        case depthFirst
        /// Level by level, as GetTree pages a tree.
        case breadthFirst
    }

    /// Calls `visit` for each distinct present node reachable from the root, and `absent` for
    /// each distinct node the source lacks (whose subtree is then not walked).
    public func forEachNode(order: Order = .depthFirst,
                            _ visit: (Digest, ValidatedDirectory) throws -> Void,
                            absent: (Digest) throws -> Void = { _ in }) throws {
        var seen: Set<Digest> = [root]
        var pending = [root]
        var next = 0
        while next < pending.count {
            let digest: Digest
            if order == .breadthFirst {
                digest = pending[next]
                next += 1
            } else {
                digest = pending.removeLast()
            }
            guard let directory = try node(digest) else {
                try absent(digest)
                continue
            }
            try visit(digest, directory)
            for child in directory.directories where seen.insert(child.digest).inserted {
                pending.append(child.digest)
            }
        }
    }

    /// Calls `visit` for every file entry with its path from the root (`a/b/file`), each place
    /// a file appears (a subtree shared by two paths is visited under both).
    /// - Throws: `.notFound` if a Directory node on the way is absent.
    public func forEachFile(_ visit: (String, ValidatedDirectory.File) throws -> Void) throws {
        var stack: [(String, Digest)] = [("", root)]
        while let (prefix, digest) = stack.popLast() {
            guard let directory = try node(digest) else {
                throw CASError(.notFound, "Directory \(digest) at '\(prefix)' of tree \(root) is not local")
            }
            for f in directory.files { try visit(prefix + f.name.name, f) }
            for d in directory.directories { stack.append((prefix + d.name.name + "/", d.digest)) }
        }
    }

    /// The absent nodes, in the order met; empty when the tree is complete.
    public func absentNodes() throws(CASError) -> [Digest] {
        var absent: [Digest] = []
        do {
            try forEachNode({ _, _ in }, absent: { absent.append($0) })
        } catch {
            throw CASError.wrapping(error, "walking tree \(root)")
        }
        return absent
    }

    /// Every Directory node and every file blob of the tree, each once (two sets: a file whose
    /// bytes happen to be a serialized Directory, such as an empty file, must not stop the walk).
    /// - Throws: `.notFound` if a node is absent.
    public func contents() throws(CASError) -> (directories: Set<Digest>, files: Set<Digest>) {
        var directories = Set<Digest>(), files = Set<Digest>()
        do {
            try forEachNode({ digest, directory in
                directories.insert(digest)
                for f in directory.files { files.insert(f.digest) }
            }, absent: { digest in
                throw CASError(.notFound, "Directory \(digest) of tree \(root) is not local")
            })
        } catch {
            throw CASError.wrapping(error, "walking tree \(root)", default: .notFound)
        }
        return (directories, files)
    }
}
