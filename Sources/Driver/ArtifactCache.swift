import Foundation
import LocalCAS
import RemoteCAS
import Synchronization

/// A remote artifact cache: a CAS plus a Remote Asset service where artifact names point at
/// their root Directory. It may be a different server from the one that executes.
///
/// Pushing makes sure the whole artifact is there first (one FindMissingBlobs), then copies
/// what is missing: from the local cache where it is local (Directory nodes, logs), else from
/// the execution CAS as a stream through this process, never written to local disk.
public struct ArtifactCache: Sendable {
    public let cas: CASClient
    public let asset: AssetClient
    /// Pushing needs explicit permission (`--artifact-push` / `artifact-push: true`).
    public let push: Bool

    public init(cas: CASClient, push: Bool) {
        self.cas = cas
        asset = AssetClient(cas: cas)
        self.push = push
    }

    /// The Remote Asset URI of an artifact.
    public static func uri(_ ref: String) -> String { "urn:fdc:lazycas.dev:2026:artifact:\(ref)" }

    /// Bytes per ranged read when a large blob is streamed from one CAS to the other.
    static let relayChunk: Int64 = 4 << 20

    /// Copies what `cas` lacks of `artifact` and records its name there.
    /// - Returns: how many blobs were copied.
    @discardableResult
    func push(_ artifact: Artifact, store: LocalContentStore, from source: CASClient) async throws -> Int {
        let tree = try LocalTree(store: store).digests(under: artifact.root)
        let blobs = tree.directories.union(tree.files).union([artifact.stdout, artifact.stderr].compactMap { $0 })
        let missing = try await cas.findMissing(blobs)
        let local = missing.filter { store.contains($0) }
        _ = try await Uploader(client: cas, store: store).send(local, from: [:])
        let remote = missing.subtracting(local).sorted { $0.sizeBytes > $1.sizeBytes }
        // A batch is read from one server and written to the other: it must suit both.
        let limit = min(try await cas.batchLimit(), try await source.batchLimit())
        var small: [Digest] = []
        for digest in remote {
            if digest.sizeBytes > limit {
                try await relay(digest, from: source)
            } else {
                small.append(digest)
            }
        }
        // Small blobs travel in batches: read a batch from the source, write it to the target.
        var batch: [Digest] = [], bytes: Int64 = 0
        for digest in small {
            if bytes + digest.sizeBytes > limit, !batch.isEmpty {
                try await copyBatch(batch, from: source)
                batch = []; bytes = 0
            }
            batch.append(digest); bytes += digest.sizeBytes
        }
        if !batch.isEmpty { try await copyBatch(batch, from: source) }
        try await asset.pushDirectory(uri: Self.uri(artifact.refName), root: artifact.root)
        return missing.count
    }

    private func copyBatch(_ digests: [Digest], from source: CASClient) async throws {
        let read = try await source.batchRead(digests)
        var payload: [(Digest, Data)] = []
        for digest in digests {
            guard let result = read[digest] else {
                throw CASError(.corrupt, "BatchReadBlobs on \(source.connection.configuration.endpoint) left out blob \(digest)")
            }
            let data = try result.get()
            guard Digest(data: data) == digest else {
                throw CASError(.corrupt, "blob \(digest) from \(source.connection.configuration.endpoint) does not match its digest")
            }
            payload.append((digest, data))
        }
        try await cas.batchUpdate(payload)
    }

    /// Streams one large blob from `source` to the artifact CAS in ranged reads; the receiving
    /// server verifies it against its digest before storing it.
    private func relay(_ digest: Digest, from source: CASClient) async throws {
        try await cas.write(digest) { offset in
            let piece = Mutex(Data())
            try await source.read(digest, offset: offset, limit: min(Self.relayChunk, digest.sizeBytes - offset)) { chunk in
                piece.withLock { $0.append(chunk) }
            }
            return piece.withLock { $0 }
        }
    }
}
