import Foundation
import LocalCAS
import Synchronization

/// The Directory nodes and source files a plan makes (imported sources, composed input roots),
/// kept in memory in front of the local CAS: planning stores nothing, so working out what an
/// element name stands for (`mount hello.bst`) writes nothing to the cache. A build stores what
/// it needs with ``persist(_:)`` before it uses it.
///
/// One per planning session, shared by every element planned in it (an element's plan composes
/// its dependencies' trees, which may exist only here). Thread safety: one lock over both maps.
final class PlannedNodes: DirectoryStore, Sendable {
    let store: LocalContentStore
    private let state = Mutex<(nodes: [Digest: Data], files: [Digest: String])>(([:], [:]))

    init(store: LocalContentStore) {
        self.store = store
    }

    func directory(_ digest: Digest) throws(CASError) -> ValidatedDirectory {
        if let data = state.withLock({ $0.nodes[digest] }) { return try ValidatedDirectory(serialized: data, digest: digest) }
        return try store.directory(digest)
    }

    func putDirectory(_ data: Data, digest: Digest) throws(CASError) {
        guard !store.contains(digest) else { return }
        state.withLock { $0.nodes[digest] = data }
    }

    /// A source file that was hashed, not stored: where its bytes are until ``persist(_:)``.
    func noteFiles(_ files: [Digest: String]) {
        state.withLock { $0.files.merge(files) { old, _ in old } }
    }

    /// Where a noted source file's bytes are.
    func sourcePath(of digest: Digest) -> String? {
        state.withLock { $0.files[digest] }
    }

    /// Stores every node of `root` that exists only here, and the source files they name, so
    /// that the tree is complete in the local CAS (children before parents: a node in the CAS
    /// always has its Directory nodes below it there too).
    func persist(_ root: Digest) throws(CASError) {
        let (nodes, files) = state.withLock { ($0.nodes, $0.files) }
        var done = Set<Digest>()
        // Nodes already stored are complete below them: only nodes held here are looked into.
        func write(_ digest: Digest) throws(CASError) {
            guard let data = nodes[digest], done.insert(digest).inserted, !store.contains(digest) else { return }
            let directory = try ValidatedDirectory(serialized: data, digest: digest)
            for file in directory.files where !store.contains(file.digest) {
                guard let path = files[file.digest] else { continue }
                do {
                    try store.importFile(at: path, expecting: file.digest)
                } catch where error.code == .corrupt {
                    throw CASError(.invalidArgument, "source file \(path) changed while building: build again", cause: error)
                }
            }
            for child in directory.directories { try write(child.digest) }
            try store.put(data, expecting: digest)
        }
        try write(root)
    }
}
