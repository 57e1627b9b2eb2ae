import FoundationEssentials
import Synchronization

/// A content-addressable store of blobs: the one seam between everything that reads or writes
/// blobs (mount, checkout, build driver, worker, server) and where the blobs are (local disk, a
/// remote CAS). Each behaviour is a store wrapping another (Buildbarn's `BlobAccess` and its
/// decorators): retrying, batching, counting, caching remote reads in the local CAS.
///
/// Verification: a blob becomes visible in the local CAS only once its digest has been checked
/// (``LocalContentStore`` hashes what it is given). A remote store checks sizes and leaves the
/// hashing to whoever keeps the bytes, so that each fetched blob is hashed once; code that uses
/// a remote blob's bytes without storing them locally checks them itself.
///
/// Errors: ``CASError`` — `.notFound` for a blob a store lacks, `.corrupt` for bytes that do not
/// match their digest, `.remote` for a server that failed or could not be reached (its gRPC
/// status is the error's `cause`), `.io` for local failures.
public protocol ContentStore: Sendable {
    /// Of `digests`, those this store does not hold.
    func findMissing(_ digests: [Digest]) async throws(CASError) -> Set<Digest>

    /// Fetches `digests`, handing each to `receive` exactly once — its bytes, or the error that
    /// blob met — as it arrives: blobs that travel together are handed on in the order they
    /// were asked for. Returns when every digest has been answered.
    func get(_ digests: [Digest], receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async

    /// Bytes `range` of blob `digest`, handed to `sink` in order as they arrive. Not verified
    /// (a range cannot be): the caller hashes the whole blob once it has every range.
    func read(_ digest: Digest, range: Range<Int64>,
              into sink: @escaping @Sendable (Data) throws(CASError) -> Void) async throws(CASError)

    /// Stores `blobs`, each of which must hash to its digest.
    func put(_ blobs: [Digest: Blob]) async throws(CASError)

    /// The blob if it can be handed on at once, without waiting on the network: a local file,
    /// or a transfer already under way. Never blocks (a FUSE thread calls it).
    func available(_ digest: Digest) -> Blob?

    /// Starts bringing `digest` in, if this store does so without waiting (a cache starts the
    /// stream of a large blob at once), so that ``available(_:)`` hands it on as it arrives; a
    /// store that cannot does nothing. Never blocks on the network (a FUSE thread calls it: the
    /// first byte of a cold large file is one round trip away, not a task switch more).
    func prefetch(_ digest: Digest)

    /// Makes sure every blob of `digests` has arrived whole (for a caching store: is in the
    /// local CAS), however many there are. The default is ``fetchTogether(_:)``.
    /// - Throws: the error of the first blob (in the order asked) that could not be had.
    func fetchAll(_ digests: [Digest]) async throws(CASError)
}

/// What ``ContentStore/upload(_:)`` did.
public struct UploadSummary: Sendable, Equatable {
    /// Blobs offered, and how many of them the store was missing (and so were sent).
    public var offered: Int
    public var missing: Int
    public var bytesSent: Int64

    public init(offered: Int, missing: Int, bytesSent: Int64) {
        self.offered = offered
        self.missing = missing
        self.bytesSent = bytesSent
    }
}

extension ContentStore {
    /// One blob.
    public func get(_ digest: Digest) async throws(CASError) -> Blob {
        try await getAll([digest])[digest]!
    }

    /// Every blob of `digests`, or the error of the first (in the order asked) that failed.
    public func getAll(_ digests: [Digest]) async throws(CASError) -> [Digest: Blob] {
        let results = Mutex<[Digest: Result<Blob, CASError>]>([:])
        await get(digests) { digest, result in results.withLock { $0[digest] = result } }
        let answered = results.withLock { $0 }
        var blobs: [Digest: Blob] = [:]
        for digest in digests {
            switch answered[digest] {
            case .success(let blob)?: blobs[digest] = blob
            case .failure(let error)?: throw error
            case nil: throw CASError(.remote, "blob \(digest) was asked for and never answered")
            }
        }
        return blobs
    }

    public func fetchAll(_ digests: [Digest]) async throws(CASError) {
        try await fetchTogether(digests)
    }

    public func prefetch(_ digest: Digest) {}

    /// ``fetchAll(_:)`` in one ``get(_:receive:)``, then waiting for the large blobs that
    /// arrive by ranges. Holds no blob longer than it takes to look at it.
    public func fetchTogether(_ digests: [Digest]) async throws(CASError) {
        try await Self.fetchTogether(digests) { digests, receive in await get(digests, receive: receive) }
    }

    /// ``fetchTogether(_:)`` through `get` (a store's own variant of ``get(_:receive:)``).
    public static func fetchTogether(
        _ digests: [Digest],
        using get: (_ digests: [Digest], _ receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async -> Void
    ) async throws(CASError) {
        let position = Dictionary(digests.enumerated().map { ($1, $0) }, uniquingKeysWith: min)
        let state = Mutex<(failure: (at: Int, error: CASError)?, arriving: [(Digest, any IncomingBlob)])>((nil, []))
        @Sendable func fail(_ digest: Digest, _ error: CASError) {
            let at = position[digest] ?? Int.max
            state.withLock { s in if s.failure.map({ at < $0.at }) ?? true { s.failure = (at, error) } }
        }
        await get(digests) { digest, result in
            switch result {
            case .success(.arriving(let incoming)): state.withLock { $0.arriving.append((digest, incoming)) }
            case .success: break
            case .failure(let error): fail(digest, error)
            }
        }
        for (digest, incoming) in state.withLock({ $0.arriving }) {
            do {
                try await incoming.complete()
            } catch {
                fail(digest, CASError.wrapping(error, "fetching blob \(digest)", default: .remote))
            }
        }
        if let failure = state.withLock({ $0.failure }) { throw failure.error }
    }

    /// The bytes of a whole blob.
    public func data(_ digest: Digest) async throws(CASError) -> Data {
        try await get(digest).data(size: digest.sizeBytes)
    }

    /// Bytes `range` of a blob, collected.
    public func read(_ digest: Digest, range: Range<Int64>) async throws(CASError) -> Data {
        let collected = Mutex(Data())
        try await read(digest, range: range) { piece in collected.withLock { $0.append(piece) } }
        return collected.withLock { $0 }
    }

    /// Sends the store whichever of `blobs` it lacks: one ``findMissing(_:)`` for the whole set,
    /// then one ``put(_:)`` of what is missing (`sending` hears what that is first).
    public func upload(_ blobs: [Digest: Blob], sending: (Set<Digest>) -> Void = { _ in }) async throws(CASError) -> UploadSummary {
        let missing = try await findMissing(Array(blobs.keys))
        sending(missing)
        try await put(blobs.filter { missing.contains($0.key) })
        return UploadSummary(offered: blobs.count, missing: missing.count,
                             bytesSent: missing.reduce(0) { $0 + $1.sizeBytes })
    }
}
