import FoundationEssentials
import REAPI

/// Builds new trees out of trees whose Directory nodes are in `store` (the local CAS, or a
/// layer in front of it), **by reference**: overlaying several trees, placing a tree under a
/// path, taking a subtree. Only the Directory nodes on the paths where trees meet are read and
/// written; everything else is shared by digest, and no file blob is ever read (they need not
/// be local).
///
/// Overlay follows BuildStream's staging rule: layers are applied in order and a later layer
/// wins where two put a file or symlink at the same path; two directories at the same path are
/// merged; a directory meeting a file or symlink is an error naming both layers.
public struct TreeComposer: Sendable {
    public let store: any DirectoryStore

    public init(store: any DirectoryStore) {
        self.store = store
    }

    /// A tree to overlay, and who it comes from (an element name), for error messages.
    public struct Layer: Sendable {
        public var root: Digest
        public var label: String

        public init(root: Digest, label: String) {
            self.root = root
            self.label = label
        }
    }

    /// Overlays `layers` in order and stores the Directory nodes that result.
    /// - Returns: the digest of the new root; the empty Directory for no layers.
    /// - Throws: `.invalidArgument` for a directory/non-directory clash, naming the path and both
    ///   layers; `.notFound` if a Directory node that must be merged is not local.
    public func overlay(_ layers: [Layer]) throws(CASError) -> Digest {
        if layers.count == 1 { return layers[0].root }
        let root = MergeNode()
        for layer in layers {
            try merge(layer.root, label: layer.label, into: root, path: "")
        }
        return try write(root)
    }

    /// A tree whose only content is `root` at `path` (`a/b` wraps it in directories `a` and `b`).
    public func place(_ root: Digest, at path: String) throws(CASError) -> Digest {
        var digest = root
        for component in try Self.components(of: path).reversed() {
            var directory = DirectoryBuilder()
            directory[component] = .directory(digest)
            digest = try directory.store(in: store)
        }
        return digest
    }

    /// The Directory at `path` inside `root`.
    /// - Throws: `.notFound` if there is none.
    public func subtree(_ root: Digest, at path: String) throws(CASError) -> Digest {
        var digest = root
        for name in try Self.components(of: path) {
            guard let sub = try store.directory(digest).directories.first(where: { $0.name.name == name }) else {
                throw CASError(.notFound, "'\(path)' in tree \(root) is not a directory")
            }
            digest = sub.digest
        }
        return digest
    }

    /// The node property that tells an executor a Directory and everything under it are not
    /// written by the action, so it may stage them shared (hard links, a read-only mount)
    /// instead of as private copies. BuildStream marks its build sandboxes this way.
    public static let subtreeReadOnly = "SubtreeReadOnly"

    /// `root` with its top Directory marked ``subtreeReadOnly`` and each of `writable` (paths
    /// from the root) created if missing and marked writable again, as BuildStream stages a
    /// build: the whole input read-only except its build, install and scratch directories.
    /// - Returns: the new root; nil if a writable path meets a file or symlink, where marking
    ///   would change what the action sees.
    public func markedReadOnly(_ root: Digest, writable: [String]) throws(CASError) -> Digest? {
        var paths: [[String]] = []
        for path in writable { paths.append(try Self.components(of: path)) }
        return try marked(root, writable: paths, isRoot: true)
    }

    /// `digest` (nil: a new empty Directory) marked writable if `writable` holds the empty path,
    /// else read-only if it is the root, and the other paths of `writable` marked below it.
    private func marked(_ digest: Digest?, writable: [[String]], isRoot: Bool) throws(CASError) -> Digest? {
        var directory = try digest.map { d throws(CASError) in DirectoryBuilder(try store.directory(d)) } ?? DirectoryBuilder()
        if writable.contains(where: \.isEmpty) {
            directory.setProperty(Self.subtreeReadOnly, to: "false")
        } else if isRoot {
            directory.setProperty(Self.subtreeReadOnly, to: "true")
        }
        let below = Dictionary(grouping: writable.filter { !$0.isEmpty }, by: \.[0])
        for (name, paths) in below.sorted(by: { $0.key < $1.key }) {
            let existing: Digest?
            switch directory[name] {
            case nil: existing = nil
            case .directory(let d)?: existing = d
            default: return nil
            }
            guard let child = try marked(existing, writable: paths.map { Array($0.dropFirst()) }, isRoot: false) else { return nil }
            directory[name] = .directory(child)
        }
        return try directory.store(in: store)
    }

    /// The non-empty components of `path`, validated (`/usr//bin/` gives `usr`, `bin`).
    public static func components(of path: String) throws(CASError) -> [String] {
        var result: [String] = []
        for part in path.split(separator: "/") where part != "." {
            let name = String(part)
            if let problem = PathComponent.problem(with: name) {
                throw CASError(.invalidArgument, "invalid path '\(path)': component '\(name)' is \(problem)")
            }
            result.append(name)
        }
        return result
    }

    // MARK: Merging

    /// A directory being composed. Subdirectories nobody else touches stay references.
    private final class MergeNode {
        enum Entry {
            /// A file, symlink or untouched directory, as its layer has it.
            case leaf(DirectoryBuilder.Entry, from: String)
            /// A directory two layers share, being merged.
            case merged(MergeNode, from: String)

            var label: String {
                switch self {
                case .leaf(_, let l), .merged(_, let l): l
                }
            }
            var isDirectory: Bool {
                switch self {
                case .leaf(let entry, _): entry.isDirectory
                case .merged: true
                }
            }
        }
        var entries: [String: Entry] = [:]
    }

    private func merge(_ digest: Digest, label: String, into node: MergeNode, path: String) throws(CASError) {
        let incoming = DirectoryBuilder(try store.directory(digest))
        func clash(_ name: String, _ existing: MergeNode.Entry, incomingIsDirectory: Bool) -> CASError {
            let kind = { (isDir: Bool) in isDir ? "a directory" : "a file or symlink" }
            return CASError(.invalidArgument,
                            "'\(path + name)' is \(kind(existing.isDirectory)) in \(existing.label) but \(kind(incomingIsDirectory)) in \(label)")
        }
        for (name, entry) in incoming.entries.sorted(by: { $0.key < $1.key }) {
            guard case .directory(let sub) = entry else {
                if let existing = node.entries[name], existing.isDirectory {
                    throw clash(name, existing, incomingIsDirectory: false)
                }
                node.entries[name] = .leaf(entry, from: label)
                continue
            }
            switch node.entries[name] {
            case nil:
                node.entries[name] = .leaf(entry, from: label)
            case .leaf(.directory(let existing), let from)?:
                guard existing != sub else { continue }
                let child = MergeNode()
                try merge(existing, label: from, into: child, path: path + name + "/")
                try merge(sub, label: label, into: child, path: path + name + "/")
                node.entries[name] = .merged(child, from: from)
            case .merged(let child, _)?:
                try merge(sub, label: label, into: child, path: path + name + "/")
            case let existing?:
                throw clash(name, existing, incomingIsDirectory: true)
            }
        }
    }

    private func write(_ node: MergeNode) throws(CASError) -> Digest {
        var directory = DirectoryBuilder()
        for (name, entry) in node.entries {
            switch entry {
            case .leaf(let leaf, _): directory[name] = leaf
            case .merged(let child, _): directory[name] = .directory(try write(child))
            }
        }
        return try directory.store(in: store)
    }
}
