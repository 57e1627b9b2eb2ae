import FoundationEssentials
import LocalCAS
import REAPI
import SwiftProtobuf

/// Brings every Directory node of a tree into the local CAS, and no file blob.
///
/// Nothing is sent when the tree is already complete locally. Otherwise one GetTree stream
/// fetches the nodes; any node still missing afterwards (a server without GetTree, or one that
/// re-encodes messages so their digests differ) is fetched level by level through `through`.
/// Every node is validated before it is stored.
public struct TreeFetcher: Sendable {
    /// Where the nodes go.
    public let store: LocalContentStore
    /// A store that brings blobs into ``store`` (a ``ReadCachingContentStore`` over the remote).
    public let through: any ContentStore
    /// Where GetTree is asked; nil: level by level only.
    public let server: GRPCContentStore?

    public init(store: LocalContentStore, through: any ContentStore, server: GRPCContentStore?) {
        self.store = store
        self.through = through
        self.server = server
    }

    /// Nodes from the server of `connection`, through a read cache over its store.
    public init(store: LocalContentStore, connection: RemoteConnection) {
        self.init(store: store, through: ReadCachingContentStore(fast: store, slow: connection.store), server: connection.cas)
    }

    /// Ensures the tree under `root` is complete locally.
    /// - Returns: how many Directory nodes were fetched.
    @discardableResult
    public func fetchTree(_ root: Digest) async throws(CASError) -> Int {
        let tree = LocalTree(store: store)
        let missing = try tree.missingDirectories(under: root)
        guard !missing.isEmpty else { return 0 }
        var fetched = 0
        do {
            guard let server else { throw CASError(.notFound, "no GetTree") }
            for message in try await server.getTree(missing.count == 1 ? missing[0] : root) {
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
        return fetched + (try await fetchMissingLevels(root))
    }

    /// Ensures the tree under `root` is complete locally with BatchReadBlobs alone: each round
    /// fetches the missing nodes one level further down, so nodes already local (shared with
    /// trees fetched before, as a worker's successive input roots are) are never asked for.
    /// - Returns: how many Directory nodes were fetched.
    @discardableResult
    public func fetchMissingLevels(_ root: Digest) async throws(CASError) -> Int {
        let tree = LocalTree(store: store)
        var fetched = 0
        var missing = try tree.missingDirectories(under: root)
        while !missing.isEmpty {
            try await through.fetchAll(missing)
            for d in missing { _ = try tree.directory(d) }
            fetched += missing.count
            missing = try tree.missingDirectories(under: root)
        }
        return fetched
    }

    /// The Directory nodes under `root` that are not local, fetched with one GetTree and
    /// validated, but not stored: a caller that needs them now (a mount) uses them at once and
    /// stores them afterwards with ``store(_:)``, since writing thousands of small files is
    /// what takes longest. If GetTree leaves gaps, falls back to ``fetchTree(_:)``, which
    /// stores everything, and returns what it did not store itself (nothing).
    public func fetchMissingNodes(_ root: Digest) async throws(CASError) -> [Digest: FetchedDirectory] {
        guard try !LocalTree(store: store).missingDirectories(under: root).isEmpty else { return [:] }
        var nodes: [Digest: FetchedDirectory] = [:]
        do {
            guard let server else { throw CASError(.notFound, "no GetTree") }
            for message in try await server.getTree(root) {
                let data = try message.serializedBytes() as Data
                let digest = Digest(data: data)
                nodes[digest] = FetchedDirectory(data: data, directory: try ValidatedDirectory(message, digest: digest))
            }
        } catch let error as CASError where error.code == .corrupt {
            throw error
        } catch {
            nodes = [:]
        }
        if try complete(root, with: nodes) { return nodes }
        try store(nodes)
        try await fetchTree(root)
        return [:]
    }

    /// Stores nodes returned by ``fetchMissingNodes(_:)``.
    public func store(_ nodes: [Digest: FetchedDirectory]) throws(CASError) {
        for (digest, node) in nodes where !store.contains(digest) {
            try store.put(node.data, expecting: digest)
        }
    }

    /// Whether every Directory under `root` is in `nodes` or local.
    private func complete(_ root: Digest, with nodes: [Digest: FetchedDirectory]) throws(CASError) -> Bool {
        try TreeWalk.local(root, in: store, plus: nodes.mapValues(\.directory)).absentNodes().isEmpty
    }
}

/// A Directory node as received (its exact bytes, which hash to its digest) and validated.
public struct FetchedDirectory: Sendable {
    public let data: Data
    public let directory: ValidatedDirectory
}
