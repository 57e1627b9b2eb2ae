import FoundationEssentials
import Synchronization

/// Reads from `first`, and from `then` whatever `first` lacks: a store on this machine that
/// lazycas does not own (BuildStream's local CAS) in front of a remote. Writes go to `then`.
public struct FallbackContentStore: ContentStore {
    public let first: LocalContentStore
    public let then: any ContentStore

    public init(first: LocalContentStore, then: any ContentStore) {
        self.first = first
        self.then = then
    }

    public func findMissing(_ digests: [Digest]) async throws(CASError) -> Set<Digest> {
        let missing = try await first.findMissing(digests)
        return missing.isEmpty ? [] : try await then.findMissing(Array(missing))
    }

    public func get(_ digests: [Digest], receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async {
        let lacking = Mutex<[Digest]>([])
        await first.get(digests) { digest, result in
            if case .failure(let error) = result, error.code == .notFound {
                lacking.withLock { $0.append(digest) }
            } else {
                await receive(digest, result)
            }
        }
        let rest = lacking.withLock { $0 }
        if !rest.isEmpty { await then.get(rest, receive: receive) }
    }

    public func read(_ digest: Digest, range: Range<Int64>,
                     into sink: @escaping @Sendable (Data) throws(CASError) -> Void) async throws(CASError) {
        if first.contains(digest) {
            try await first.read(digest, range: range, into: sink)
        } else {
            try await then.read(digest, range: range, into: sink)
        }
    }

    public func put(_ blobs: [Digest: Blob]) async throws(CASError) {
        try await then.put(blobs)
    }

    public func available(_ digest: Digest) -> Blob? {
        first.available(digest) ?? then.available(digest)
    }

    public func prefetch(_ digest: Digest) {
        if !first.contains(digest) { then.prefetch(digest) }
    }
}
