import FoundationEssentials
import LocalCAS

/// The one batch planner: turns operations on many blobs into calls `base` can make — at most
/// ``GRPCContentStore/findMissingLimit`` digests per FindMissingBlobs, blobs packed into batches
/// within the server's limit (``BatchPlan``), each blob over the limit on its own (ByteStream)
/// — and runs at most `concurrency` of those calls at once.
public struct BatchingContentStore: ContentStore {
    public let base: any ContentStore
    /// The server's batch limit (``GRPCContentStore/batchLimit()``).
    private let batchLimit: @Sendable () async throws(CASError) -> Int64
    public let concurrency: Int

    public init(base: any ContentStore, concurrency: Int, batchLimit: @escaping @Sendable () async throws(CASError) -> Int64) {
        self.base = base
        self.concurrency = max(1, concurrency)
        self.batchLimit = batchLimit
    }

    public func findMissing(_ digests: [Digest]) async throws(CASError) -> Set<Digest> {
        let unique = Array(Set(digests)).sorted()
        var missing = Set<Digest>()
        for start in stride(from: 0, to: unique.count, by: GRPCContentStore.findMissingLimit) {
            missing.formUnion(try await base.findMissing(Array(unique[start..<min(start + GRPCContentStore.findMissingLimit, unique.count)])))
        }
        return missing
    }

    public func get(_ digests: [Digest], receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async {
        var seen = Set<Digest>()
        let unique = digests.filter { seen.insert($0).inserted }
        guard !unique.isEmpty else { return }
        let plan: BatchPlan
        do {
            plan = BatchPlan(unique, limit: try await batchLimit())
        } catch {
            for d in unique { await receive(d, .failure(error)) }
            return
        }
        let calls = plan.singles.map { [$0] } + plan.batches
        try? await forEachConcurrently(calls, limit: concurrency) { call in
            await base.get(call, receive: receive)
        }
    }

    public func read(_ digest: Digest, range: Range<Int64>,
                     into sink: @escaping @Sendable (Data) throws(CASError) -> Void) async throws(CASError) {
        try await base.read(digest, range: range, into: sink)
    }

    public func put(_ blobs: [Digest: Blob]) async throws(CASError) {
        guard !blobs.isEmpty else { return }
        let plan = BatchPlan(Array(blobs.keys), limit: try await batchLimit())
        let calls = plan.singles.map { [$0] } + plan.batches
        do {
            try await forEachConcurrently(calls, limit: concurrency) { call in
                try await base.put(Dictionary(uniqueKeysWithValues: call.map { ($0, blobs[$0]!) }))
            }
        } catch let error as CASError {
            throw error
        } catch {
            throw CASError(.remote, "uploading \(blobs.count) blobs", cause: error)
        }
    }

    public func available(_ digest: Digest) -> Blob? { base.available(digest) }

    public func prefetch(_ digest: Digest) { base.prefetch(digest) }
}
