import FoundationEssentials
import LocalCAS
import Synchronization

/// Re-creates a blob that a store lost: a remote CAS evicted it, and something built here
/// knows how to make it again (re-run the action that produced it, upload it from its sources).
public protocol BlobHealer: Sendable {
    /// Makes `digest` available in the store again, or says why it cannot be.
    /// - Parameter lost: the error the store answered with (`.notFound`).
    func heal(_ digest: Digest, lost: CASError) async throws(CASError)
    /// Lets go of what healing opened (connections to other servers, a helper process).
    func close() async
}

extension BlobHealer {
    public func close() async {}
}

/// Heals what `base` lost: a read (`get` or a ranged `read`) that fails with `.notFound` asks
/// the ``BlobHealer`` to re-create the blob, then reads again; the reader waits meanwhile. A
/// blob that cannot be healed fails with the healer's error, which says why. Everything else
/// is `base`'s.
///
/// Sits below ``ReadCachingContentStore``, so however many readers want a lost blob at once,
/// it is healed once.
public struct HealingContentStore: ContentStore {
    public let base: any ContentStore
    public let healer: any BlobHealer

    public init(base: any ContentStore, healer: any BlobHealer) {
        self.base = base
        self.healer = healer
    }

    public func findMissing(_ digests: [Digest]) async throws(CASError) -> Set<Digest> {
        try await base.findMissing(digests)
    }

    public func get(_ digests: [Digest], receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async {
        let lost = Mutex<[Digest: CASError]>([:])
        await base.get(digests) { digest, result in
            if case .failure(let error) = result, error.code == .notFound {
                lost.withLock { $0[digest] = error }
            } else {
                await receive(digest, result)
            }
        }
        let healer = self.healer
        let toHeal = lost.withLock { $0 }
        let healed = await withTaskGroup(of: Digest?.self) { group in
            for (digest, failure) in toHeal {
                group.addTask {
                    do throws(CASError) {
                        try await healer.heal(digest, lost: failure)
                        return digest
                    } catch {
                        await receive(digest, .failure(error))
                        return nil
                    }
                }
            }
            var healed: [Digest] = []
            for await digest in group { if let digest { healed.append(digest) } }
            return healed
        }
        if !healed.isEmpty { await base.get(healed, receive: receive) }
    }

    public func read(_ digest: Digest, range: Range<Int64>,
                     into sink: @escaping @Sendable (Data) throws(CASError) -> Void) async throws(CASError) {
        let delivered = Mutex(false)
        do {
            try await base.read(digest, range: range) { piece throws(CASError) in
                delivered.withLock { $0 = true }
                try sink(piece)
            }
        } catch where error.code == .notFound && !delivered.withLock({ $0 }) {
            try await healer.heal(digest, lost: error)
            try await base.read(digest, range: range, into: sink)
        }
    }

    public func put(_ blobs: [Digest: Blob]) async throws(CASError) {
        try await base.put(blobs)
    }

    public func available(_ digest: Digest) -> Blob? { base.available(digest) }

    public func prefetch(_ digest: Digest) { base.prefetch(digest) }
}
