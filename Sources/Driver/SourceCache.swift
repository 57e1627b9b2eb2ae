import Foundation
import LocalCAS

/// Fetched sources, kept in the local CAS as trees: `CACHE/sources/refs/KEY` → root Directory,
/// where KEY is the source's ``SourceDefinition/contentKey`` (its kind and ref). A tree is
/// complete in the local CAS before its key is written, so a key always names a whole tree.
public struct SourceCache: Sendable {
    let refs: RefStore
    let store: LocalContentStore
    /// Scratch space for downloads and checkouts, and git mirrors.
    let directory: String

    public init(store: LocalContentStore) throws(CASError) {
        self.store = store
        directory = store.root + "/sources"
        refs = try RefStore(root: directory)
    }

    /// The tree of a fetched source, or nil when it has not been fetched (or its tree is gone).
    func tree(for key: String) -> Digest? {
        guard let digest = try? refs.get(key), store.contains(digest) else { return nil }
        return digest
    }

    func record(_ root: Digest, for key: String) throws(CASError) {
        try refs.set(key, to: root)
    }

    /// A fresh scratch directory under the cache (same file system: imports hard-link or rename).
    func scratch(_ label: String) throws(CASError) -> String {
        let path = directory + "/tmp/\(label)-\(UUID().uuidString)"
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CASError(.io, "cannot create \(path)", cause: error)
        }
        return path
    }
}
