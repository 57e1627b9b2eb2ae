import FoundationEssentials
import LocalCAS
import Synchronization

/// Tries failed operations of `base` again, as ``RetryPolicy`` says: per operation, within one
/// deadline, with backoff. A multi-blob get retries just the blobs whose failure is retryable;
/// a ranged read that broke after some bytes resumes where it stopped, so nothing reaches the
/// sink twice.
public struct RetryingContentStore: ContentStore {
    public let base: any ContentStore
    public let policy: RetryPolicy
    /// The deadline of reads of ranges and of puts, which move whole blobs.
    public let transferPolicy: RetryPolicy

    public init(base: any ContentStore, policy: RetryPolicy, transferPolicy: RetryPolicy? = nil) {
        self.base = base
        self.policy = policy
        self.transferPolicy = transferPolicy ?? policy
    }

    public func findMissing(_ digests: [Digest]) async throws(CASError) -> Set<Digest> {
        try await policy.run { () async throws(CASError) in try await base.findMissing(digests) }
    }

    public func get(_ digests: [Digest], receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async {
        let end = ContinuousClock.now + policy.deadline
        var backoff = RetryPolicy.Backoff(policy)
        var pending = digests
        let attempts = max(1, policy.maxAttempts)
        for attempt in 1...attempts {
            let retry = Mutex<[(Digest, CASError)]>([])
            let last = attempt == attempts
            await base.get(pending) { digest, result in
                if !last, case .failure(let error) = result, RetryPolicy.isRetryable(error) {
                    retry.withLock { $0.append((digest, error)) }
                } else {
                    await receive(digest, result)
                }
            }
            let failed = retry.withLock { $0 }
            guard !failed.isEmpty else { return }
            let pause = backoff.next()
            guard ContinuousClock.now + pause < end else {
                for (digest, error) in failed { await receive(digest, .failure(error)) }
                return
            }
            try? await Task.sleep(for: pause)
            pending = failed.map(\.0)
        }
    }

    public func read(_ digest: Digest, range: Range<Int64>,
                     into sink: @escaping @Sendable (Data) throws(CASError) -> Void) async throws(CASError) {
        let delivered = Mutex<Int64>(0)
        try await transferPolicy.run { () async throws(CASError) in
            let start = range.lowerBound + delivered.withLock { $0 }
            guard start < range.upperBound else { return }
            try await base.read(digest, range: start..<range.upperBound) { piece throws(CASError) in
                try sink(piece)
                delivered.withLock { $0 += Int64(piece.count) }
            }
        }
    }

    public func put(_ blobs: [Digest: Blob]) async throws(CASError) {
        try await transferPolicy.run { () async throws(CASError) in try await base.put(blobs) }
    }

    public func available(_ digest: Digest) -> Blob? { base.available(digest) }

    public func prefetch(_ digest: Digest) { base.prefetch(digest) }
}
