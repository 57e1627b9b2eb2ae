import Foundation
import LocalCAS
import REAPI

/// Brings every Directory node of a tree into the local CAS, and no file blob.
///
/// Nothing is sent when the tree is already complete locally. Otherwise one GetTree stream
/// fetches the nodes; any node still missing afterwards (a server without GetTree, or one that
/// re-encodes messages so their digests differ) is fetched level by level with BatchReadBlobs.
/// Every node is validated before it is stored.
public struct TreeFetcher: Sendable {
    public let fetcher: BlobFetcher
    public var store: LocalContentStore { fetcher.store }

    public init(fetcher: BlobFetcher) {
        self.fetcher = fetcher
    }

    /// Ensures the tree under `root` is complete locally.
    /// - Returns: how many Directory nodes were fetched.
    @discardableResult
    public func fetchTree(_ root: Digest) async throws(CASError) -> Int {
        let tree = LocalTree(store: store)
        var missing = try tree.missingDirectories(under: root)
        guard !missing.isEmpty else { return 0 }
        var fetched = 0
        do {
            for message in try await fetcher.client.getTree(missing.count == 1 ? missing[0] : root) {
                let data = try message.serializedBytes() as Data
                let digest = Digest(data: data)
                _ = try ValidatedDirectory(message, digest: digest)
                if !store.contains(digest) {
                    try store.put(data, expecting: digest)
                    fetched += 1
                }
            }
        } catch let error as CASError where error.code == .corrupt {
            throw error
        } catch {
            // Fall back to batched reads below; a real outage will fail there too.
        }
        missing = try tree.missingDirectories(under: root)
        while !missing.isEmpty {
            try await fetcher.fetch(missing)
            for d in missing { _ = try tree.directory(d) }
            fetched += missing.count
            missing = try tree.missingDirectories(under: root)
        }
        return fetched
    }
}
