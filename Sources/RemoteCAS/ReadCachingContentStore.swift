import FoundationEssentials
import LocalCAS
import Synchronization

/// Reads through a local CAS: a blob is handed on from `fast` when it is there, else fetched
/// from `slow`, verified and stored in `fast` (so every later read is local), then handed on as
/// the stored file. Fetches are single-flight process-wide (``InFlightTransfers``): however
/// many readers want a missing blob at once, it is transferred once, and a transfer outlives
/// the reader that started it (one reader giving up fails nobody else).
///
/// Small blobs asked for together travel together (``BatchingContentStore`` below packs them),
/// and are stored in the order asked, so the blob a reader waits for (asked first, with
/// read-ahead companions after it) is ready first. A blob of ``streamingThreshold`` bytes or
/// more is handed on at once as a ``BlobStream`` whose ranges can be read while it arrives;
/// ``fetchAll(_:)`` runs at most ``concurrentStreams`` of those at a time.
///
/// Writes (`put`) and `findMissing` are `slow`'s: this store caches reads. A failed fetch
/// leaves nothing behind, so the next read tries again.
public struct ReadCachingContentStore: ContentStore {
    public let fast: LocalContentStore
    public let slow: any ContentStore
    /// Ranged reads in flight per streamed blob; at most ``readerParallelChunks`` for a blob
    /// fetched for a reader.
    public let parallelChunks: Int
    /// Streamed blobs in flight at once when many are fetched together.
    public let concurrentStreams: Int
    private let inFlight: InFlightTransfers

    /// Blobs at least this large arrive as a stream readable while it fills; smaller ones are
    /// fetched whole (in batches) before they are handed on.
    public static let streamingThreshold: Int64 = 1 << 20

    /// Ranged reads in flight per blob a reader reads while it arrives (a mount's, a shell's, a
    /// lazy worker's): each holds up to a 2 MiB message (a 4 MiB gRPC buffer) while it arrives,
    /// and readers of several large files add up. With two, not four, an 8-parallel cold read of
    /// a 10,000-file tree peaks at 30 MB of heap instead of 35, no slower.
    public static let readerParallelChunks = 2

    public init(fast: LocalContentStore, slow: any ContentStore, parallelChunks: Int = 4, concurrentStreams: Int = 16) {
        self.fast = fast
        self.slow = slow
        self.parallelChunks = max(1, parallelChunks)
        self.concurrentStreams = max(1, concurrentStreams)
        inFlight = InFlightTransfers.shared(for: fast)
    }

    public func findMissing(_ digests: [Digest]) async throws(CASError) -> Set<Digest> {
        try await slow.findMissing(digests)
    }

    public func get(_ digests: [Digest], receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async {
        await get(digests, streamingFrom: Self.streamingThreshold, forReading: true, receive: receive)
    }

    /// ``get(_:receive:)``, streaming the blobs of at least `threshold` bytes. `forReading`:
    /// blobs fetched for a reader, so the small ones go into a pack of the local CAS (read in
    /// place) and a stream starts with small head ranges (``BlobStream/readerLead``).
    private func get(_ digests: [Digest], streamingFrom threshold: Int64, forReading: Bool,
                     receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async {
        var seen = Set<Digest>()
        var fetch: [(Digest, PendingBlob)] = [], waits: [(Digest, PendingBlob)] = []
        for digest in digests where seen.insert(digest).inserted {
            if let local = fast.available(digest) {
                await receive(digest, .success(local))
                continue
            }
            let joined: (transfer: InFlightTransfers.Transfer, started: Bool)?
            do {
                joined = try inFlight.join(digest, stillMissing: { !fast.contains(digest) }) { () throws(CASError) in
                    guard digest.sizeBytes >= threshold else { return .batch(PendingBlob()) }
                    return .stream(try makeStream(digest, forReading: forReading))
                }
            } catch {
                await receive(digest, .failure(error))
                continue
            }
            switch joined {
            case nil:
                await receive(digest, local(digest))
            case (.stream(let stream), let started)?:
                if started { stream.start() }
                await receive(digest, .success(.arriving(stream)))
            case (.batch(let pending), let started)?:
                if started { fetch.append((digest, pending)) } else { waits.append((digest, pending)) }
            }
        }
        // The transfer runs on its own (it is everyone's, not just this caller's), while this
        // caller also waits for what others are bringing in.
        let transfer = fetch.isEmpty ? nil : Task { await self.transfer(fetch, packing: forReading, receive: receive) }
        for (digest, pending) in waits {
            do {
                try await pending.wait()
                await receive(digest, local(digest))
            } catch {
                await receive(digest, .failure(error))
            }
        }
        await transfer?.value
    }

    /// Fetches `digests` (each registered as a batch transfer by this store, with its pending
    /// blob) from `slow`, stores each as it arrives (packed if `packing`), and finishes its
    /// transfer.
    private func transfer(_ digests: [(Digest, PendingBlob)], packing: Bool,
                          receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async {
        let (fast, inFlight) = (self.fast, self.inFlight)
        let pending = Dictionary(digests, uniquingKeysWith: { a, _ in a })
        let answered = Mutex(Set<Digest>())
        await slow.get(digests.map(\.0)) { digest, result in
            guard let mine = pending[digest], answered.withLock({ $0.insert(digest).inserted }) else { return }
            let outcome: Result<Blob, CASError>
            switch result {
            case .success(let blob):
                do throws(CASError) {
                    try await fast.put([digest: blob], packing: packing)
                    inFlight.finish(digest, .batch(mine), .success(()))
                    outcome = Self.local(digest, in: fast)
                } catch {
                    let failure = CASError.wrapping(error, "storing blob \(digest)", default: .corrupt)
                    inFlight.finish(digest, .batch(mine), .failure(failure))
                    outcome = .failure(failure)
                }
            case .failure(let error):
                inFlight.finish(digest, .batch(mine), .failure(error))
                outcome = .failure(error)
            }
            await receive(digest, outcome)
        }
        // A store below that left a blob unanswered must not leave its waiters hanging.
        for (digest, mine) in digests where !answered.withLock({ $0.contains(digest) }) {
            let error = CASError(.remote, "blob \(digest) was asked for and never answered")
            inFlight.finish(digest, .batch(mine), .failure(error))
            await receive(digest, .failure(error))
        }
    }

    /// Blobs over this size are streamed when many are fetched at once (``fetchAll(_:)``); the
    /// rest go in batches, whose limit this is (a reader waiting for its first byte gets a
    /// stream from ``streamingThreshold`` on instead).
    public static let bulkStreamingThreshold = GRPCContentStore.defaultBatchLimit + 1

    /// Every blob of `digests` into the local CAS: the smaller ones in batches, the large ones
    /// as streams, at most ``concurrentStreams`` at a time (each holds a temp file and ranged
    /// reads), each let go as soon as it is stored.
    public func fetchAll(_ digests: [Digest]) async throws(CASError) {
        let missing = fast.missing(digests)
        let large = missing.filter { $0.sizeBytes >= Self.bulkStreamingThreshold }
        async let small: Result<Void, CASError> = {
            do throws(CASError) {
                try await Self.fetchTogether(missing.filter { $0.sizeBytes < Self.bulkStreamingThreshold }) { digests, receive in
                    await get(digests, streamingFrom: Self.bulkStreamingThreshold, forReading: false, receive: receive)
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }()
        var failure: CASError?
        do {
            try await forEachConcurrently(large, limit: concurrentStreams) { digest in
                try await Self.fetchTogether([digest]) { digests, receive in
                    await get(digests, streamingFrom: Self.streamingThreshold, forReading: false, receive: receive)
                }
            }
        } catch {
            failure = CASError.wrapping(error, "fetching blobs", default: .remote)
        }
        if case .failure(let error) = await small { throw error }
        if let failure { throw failure }
    }

    private func local(_ digest: Digest) -> Result<Blob, CASError> {
        Self.local(digest, in: fast)
    }

    private static func local(_ digest: Digest, in fast: LocalContentStore) -> Result<Blob, CASError> {
        fast.available(digest).map { .success($0) }
            ?? .failure(CASError(.notFound, "blob \(digest) was fetched but is not in the local CAS (evicted at once?)"))
    }

    public func read(_ digest: Digest, range: Range<Int64>,
                     into sink: @escaping @Sendable (Data) throws(CASError) -> Void) async throws(CASError) {
        if fast.contains(digest) {
            try await fast.read(digest, range: range, into: sink)
        } else {
            try await slow.read(digest, range: range, into: sink)
        }
    }

    public func put(_ blobs: [Digest: Blob]) async throws(CASError) {
        try await slow.put(blobs)
    }

    /// Starts the stream of a large missing blob (``streamingThreshold``) at once; smaller
    /// blobs wait for a ``get(_:receive:)``, which batches them with others.
    public func prefetch(_ digest: Digest) {
        guard digest.sizeBytes >= Self.streamingThreshold, !fast.contains(digest) else { return }
        let joined = try? inFlight.join(digest, stillMissing: { !fast.contains(digest) }) { () throws(CASError) in
            .stream(try makeStream(digest, forReading: true))
        }
        if case (.stream(let stream), true)? = joined { stream.start() }
    }

    /// A stream of `digest` that takes itself off the table when it ends; for a reader, with
    /// small head ranges and fewer ranges at once.
    private func makeStream(_ digest: Digest, forReading: Bool) throws(CASError) -> BlobStream {
        try BlobStream(digest: digest, source: slow, store: fast, lead: forReading ? BlobStream.readerLead : BlobStream.bulkLead,
                       parallelChunks: forReading ? min(parallelChunks, Self.readerParallelChunks) : parallelChunks) {
            [inFlight] stream, outcome in inFlight.finish(digest, .stream(stream), outcome)
        }
    }

    /// The local file, or a stream already bringing the blob in.
    public func available(_ digest: Digest) -> Blob? {
        if let local = fast.available(digest) { return local }
        return inFlight.stream(digest).map { .arriving($0) }
    }
}
