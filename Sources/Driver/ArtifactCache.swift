import Foundation
import LocalCAS
import RemoteCAS
import Synchronization

/// A remote artifact cache: a CAS plus a Remote Asset service where artifact names point at
/// their root Directory. It may be a different server from the one that executes.
///
/// Pushing makes sure the whole artifact is there first (one FindMissingBlobs), then copies
/// what is missing: from the local cache where it is local (Directory nodes, logs), else from
/// the execution CAS through this process, never written to local disk — small blobs a batch
/// at a time, large ones relayed by ranged reads.
public struct ArtifactCache: Sendable {
    public let connection: RemoteConnection
    public let asset: AssetClient
    /// Pushing needs explicit permission (`--artifact-push` / `artifact-push: true`).
    public let push: Bool

    public init(connection: RemoteConnection, push: Bool) {
        self.connection = connection
        asset = AssetClient(connection: connection)
        self.push = push
    }

    /// The Remote Asset URI of an artifact.
    public static func uri(_ ref: String) -> String { "urn:fdc:lazycas.dev:2026:artifact:\(ref)" }

    /// Bytes per ranged read when a large blob is relayed from one CAS to the other.
    static let relayChunk: Int64 = 4 << 20
    /// Bytes of small blobs held in memory at once while copying between servers.
    static let copySlice: Int64 = 64 << 20

    /// Copies what the cache lacks of `artifact` and records its name there.
    /// - Returns: how many blobs were copied.
    @discardableResult
    func push(_ artifact: Artifact, store: LocalContentStore, from source: RemoteConnection) async throws -> Int {
        let tree = try LocalTree(store: store).digests(under: artifact.root)
        let blobs = tree.directories.union(tree.files).union([artifact.stdout, artifact.stderr].compactMap { $0 })
        let missing = try await connection.store.findMissing(Array(blobs))
        let local = missing.filter { store.contains($0) }
        try await connection.store.put(Dictionary(uniqueKeysWithValues: local.map { ($0, store.source($0)) }))
        // A batch is read from one server and written to the other: it must suit both.
        let limit = min(try await connection.cas.batchLimit(), try await source.cas.batchLimit())
        let remote = missing.subtracting(local).sorted { $0.sizeBytes > $1.sizeBytes }
        let large = remote.filter { $0.sizeBytes > limit }
        try await connection.store.put(Dictionary(uniqueKeysWithValues: large.map { digest in
            (digest, Blob.ranges(RelayWindow(digest: digest, source: source.store).reader))
        }))
        var slice: [Digest] = [], bytes: Int64 = 0
        for digest in remote where digest.sizeBytes <= limit {
            slice.append(digest)
            bytes += digest.sizeBytes
            if bytes >= Self.copySlice {
                try await copy(slice, from: source)
                slice = []; bytes = 0
            }
        }
        if !slice.isEmpty { try await copy(slice, from: source) }
        try await asset.pushDirectory(uri: Self.uri(artifact.refName), root: artifact.root)
        return missing.count
    }

    /// Reads small blobs from `source` (in batches), checks them, and writes them here.
    private func copy(_ digests: [Digest], from source: RemoteConnection) async throws(CASError) {
        var payload: [Digest: Blob] = [:]
        for (digest, blob) in try await source.store.getAll(digests) {
            let data = try await blob.data(size: digest.sizeBytes)
            guard Digest(data: data) == digest else {
                throw CASError(.corrupt, "blob \(digest) from \(source.configuration.endpoint) does not match its digest")
            }
            payload[digest] = .bytes(data)
        }
        try await connection.store.put(payload)
    }
}

/// One large blob read from another server a window of ``ArtifactCache/relayChunk`` bytes at a
/// time, however small the pieces the writer asks for; the receiving server verifies the whole.
private final class RelayWindow: Sendable {
    let digest: Digest
    let source: any ContentStore
    private let window = Mutex<(start: Int64, data: Data)>((0, Data()))

    init(digest: Digest, source: any ContentStore) {
        self.digest = digest
        self.source = source
    }

    var reader: RangeReader {
        RangeReader { range throws(CASError) in try await self.read(range) }
    }

    private func read(_ range: Range<Int64>) async throws(CASError) -> Data {
        if let hit = slice(range) { return hit }
        let start = range.lowerBound
        let data = try await source.read(digest, range: start..<min(digest.sizeBytes, start + max(ArtifactCache.relayChunk, Int64(range.count))))
        window.withLock { $0 = (start, data) }
        return slice(range) ?? Data()
    }

    private func slice(_ range: Range<Int64>) -> Data? {
        window.withLock { w in
            let end = w.start + Int64(w.data.count)
            guard range.lowerBound >= w.start, range.upperBound <= end || (end == digest.sizeBytes && range.lowerBound < end) else { return nil }
            let from = Int(range.lowerBound - w.start), to = Int(min(range.upperBound, end) - w.start)
            return w.data.subdata(in: (w.data.startIndex + from)..<(w.data.startIndex + to))
        }
    }
}
