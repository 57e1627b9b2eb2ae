import FoundationEssentials
import LocalCAS
import Synchronization

/// Counts the blobs and bytes `base` receives and sends into a ``Metrics``: right above a
/// ``GRPCContentStore``, what crossed the network (every attempt); above a shared stack, what
/// one mount, shell or worker action fetched. A blob read by ranges counts once, when its
/// first range arrives.
public struct MetricsContentStore: ContentStore {
    public let base: any ContentStore
    public let metrics: Metrics

    public init(base: any ContentStore, metrics: Metrics) {
        self.base = base
        self.metrics = metrics
    }

    public func findMissing(_ digests: [Digest]) async throws(CASError) -> Set<Digest> {
        try await base.findMissing(digests)
    }

    public func get(_ digests: [Digest], receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async {
        await base.get(digests) { [metrics] digest, result in
            if case .success = result { metrics.recordReceived(blobs: 1, bytes: digest.sizeBytes) }
            await receive(digest, result)
        }
    }

    public func read(_ digest: Digest, range: Range<Int64>,
                     into sink: @escaping @Sendable (Data) throws(CASError) -> Void) async throws(CASError) {
        let first = Mutex(range.lowerBound == 0)
        try await base.read(digest, range: range) { [metrics] piece throws(CASError) in
            // Counted as they arrive: a reader may act on the bytes before the call ends.
            let blobs = first.withLock { f in defer { f = false }; return f ? 1 : 0 }
            metrics.recordReceived(blobs: blobs, bytes: Int64(piece.count))
            try sink(piece)
        }
    }

    public func put(_ blobs: [Digest: Blob]) async throws(CASError) {
        try await base.put(blobs)
        metrics.recordSent(blobs: blobs.count, bytes: blobs.keys.reduce(0) { $0 + $1.sizeBytes })
    }

    public func available(_ digest: Digest) -> Blob? { base.available(digest) }

    public func prefetch(_ digest: Digest) { base.prefetch(digest) }
}
