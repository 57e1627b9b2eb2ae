import FoundationEssentials
import LocalCAS
import Synchronization

/// One large blob coming into the local CAS by ranged reads of a source store (ByteStream
/// `read_offset`/`read_limit` on a server), readable while it arrives: the ``IncomingBlob`` a
/// ``ReadCachingContentStore`` hands on for a cold large blob.
///
/// The blob is cut into chunks (a small first one, for the first byte); once the first bytes
/// are in, a few are read at once, in order, and a reader asking for a range whose chunk has
/// not started yet starts it at once, so a reader that seeks to the end does not wait for the
/// beginning. Each chunk's bytes are written at their offset into a ``PartialBlob`` as they
/// arrive, so ``wait(offset:count:)`` returns as soon as the bytes a reader asked for are on
/// disk, typically one round trip after the first request. When every chunk is in, the whole
/// blob is hashed; only a verified blob becomes visible in the local CAS. A chunk is read once:
/// resuming a broken read is the source's business (``RetryingContentStore``); a chunk that
/// fails fails the stream, every reader gets the error and nothing is stored.
///
/// Bytes handed out before the final check have not been verified. So that no reader finishes
/// a corrupt blob without noticing, a range that ends at the blob's end is released only after
/// the check: a corrupt blob can show early readers wrong bytes, but their read of the end
/// fails, it is never stored, and every read after the check fails too.
///
/// Thread safety: all methods may be called concurrently; `state` is the only mutable state.
public final class BlobStream: IncomingBlob {
    public let digest: Digest
    let blob: PartialBlob
    let chunkSize: Int64
    /// Where the blob's head chunks end: small ones, growing, before the `chunkSize` ones.
    /// Servers send a range in messages of up to a few MiB (2 MiB from buildbox-casd, each read
    /// from its disk before it is sent), so the first message of a small range comes back much
    /// sooner. The first chunk (64 KiB) covers the kernel's first read of a file (its initial
    /// read-ahead is 16 KiB); the next (to 256 KiB) a larger first read (`cat`'s 128 KiB), which
    /// asks for it at once (``chunks(_:_:)``); the third runs to 1 MiB.
    let lead: [Int64]
    let parallelChunks: Int
    private let source: any ContentStore
    private let state: Mutex<State>

    struct Waiter {
        let start: Int64
        let end: Int64
        let continuation: CheckedContinuation<Void, any Error>
    }

    struct State {
        /// Bytes that have arrived contiguously from the start of each chunk.
        var received: [Int64]
        var started: [Bool]
        var running = 0
        var waiters: [Waiter] = []
        var outcome: Result<Void, CASError>?
        /// Set by the one chunk that found every chunk complete: it alone verifies and commits.
        var committing = false
        var completion: [CheckedContinuation<Void, any Error>] = []
    }

    /// The head ranges of a stream someone reads while it arrives (``lead``).
    public static let readerLead: [Int64] = [64 << 10, 256 << 10, 1 << 20]
    /// The head range of a stream only stored (no reader waits for its first bytes): one
    /// range of the usual size, so it costs no extra round trips.
    public static let bulkLead: [Int64] = [8 << 20]

    /// The largest blob streamed: 1 TiB.
    static let largestBlob: Int64 = 1 << 40

    /// Told the outcome once, before any reader hears it (so a transfer table can forget the
    /// stream before anyone can ask for the blob again).
    private let onFinish: @Sendable (BlobStream, Result<Void, CASError>) -> Void

    init(digest: Digest, source: any ContentStore, store: LocalContentStore,
         chunkSize: Int64 = 8 << 20, lead: [Int64] = BlobStream.readerLead, parallelChunks: Int = 4,
         onFinish: @escaping @Sendable (BlobStream, Result<Void, CASError>) -> Void = { _, _ in }) throws(CASError) {
        self.digest = digest
        self.source = source
        self.onFinish = onFinish
        self.chunkSize = chunkSize
        precondition(!lead.isEmpty && lead.first! > 0 && zip(lead, lead.dropFirst()).allSatisfy { $0 < $1 },
                     "the head chunks end at rising offsets")
        self.lead = lead
        self.parallelChunks = max(1, parallelChunks)
        blob = try PartialBlob(store: store, digest: digest)
        precondition(digest.sizeBytes > 0, "the empty blob is never fetched")
        // Sizes come from Directory nodes off the network: refuse absurd ones rather than
        // allocate chunk tables for them.
        guard digest.sizeBytes <= Self.largestBlob else {
            throw CASError(.invalidArgument, "blob \(digest) claims \(digest.sizeBytes) bytes, more than the \(Self.largestBlob) this client reads")
        }
        let size = digest.sizeBytes, leadEnd = lead.last!
        let chunks = size <= leadEnd ? lead.firstIndex { size <= $0 }! + 1
            : lead.count + Int((size - leadEnd + chunkSize - 1) / chunkSize)
        state = Mutex(State(received: Array(repeating: 0, count: chunks),
                            started: Array(repeating: false, count: chunks)))
    }

    /// A descriptor of the blob's bytes: read a range from it once ``wait(offset:count:)`` has
    /// returned for that range. Valid as long as this stream is referenced.
    public var fd: Int32 { blob.fd }

    /// Whether the blob arrived whole and verified.
    public var isComplete: Bool {
        state.withLock { if case .success = $0.outcome { true } else { false } }
    }

    /// Waits for the transfer to end (starting it if needed): returns when the blob is
    /// verified and stored, or throws why it could not be.
    /// Starts the transfer without waiting for it.
    func start() {
        startChunks(demanded: nil)
    }

    public func complete() async throws(CASError) {
        do {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let now = state.withLock { s -> Result<Void, CASError>? in
                    if let outcome = s.outcome { return outcome }
                    s.completion.append(c)
                    return nil
                }
                if let now { c.resume(with: now) } else { startChunks(demanded: nil) }
            }
        } catch {
            throw CASError.wrapping(error, "streaming blob \(digest)", default: .remote)
        }
    }

    /// Whether bytes `offset ..< offset + count` (clipped to the blob) can be read from ``fd`` now.
    /// - Throws: the stream's error if it failed.
    public func hasArrived(offset: Int64, count: Int64) throws(CASError) -> Bool {
        let start = max(0, min(offset, digest.sizeBytes))
        let end = max(start, min(offset + count, digest.sizeBytes))
        return try state.withLock { s throws(CASError) -> Bool in
            if case .failure(let error) = s.outcome { throw error }
            return s.outcome != nil || (end < digest.sizeBytes && covered(start, end, s.received))
        }
    }

    /// Returns once bytes `offset ..< offset + count` (clipped to the blob) have arrived, or,
    /// for a range that reaches the end of the blob, once the whole blob has been verified.
    /// - Throws: the stream's error if it failed, now or while waiting.
    public func wait(offset: Int64, count: Int64) async throws(CASError) {
        let start = max(0, min(offset, digest.sizeBytes))
        let end = max(start, min(offset + count, digest.sizeBytes))
        if end == digest.sizeBytes {
            startChunks(demanded: chunks(start, end))
            try await complete()
            return
        }
        do {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let ready = state.withLock { s -> Result<Void, CASError>? in
                    if case .failure(let error) = s.outcome { return .failure(error) }
                    if s.outcome != nil || covered(start, end, s.received) { return .success(()) }
                    s.waiters.append(Waiter(start: start, end: end, continuation: c))
                    return nil
                }
                if let ready { c.resume(with: ready) } else { startChunks(demanded: chunks(start, end)) }
            }
        } catch {
            throw CASError.wrapping(error, "streaming blob \(digest)", default: .remote)
        }
    }

    /// Chunk `index`'s bytes: the ``lead`` chunks, then `chunkSize` each (the last one cut at
    /// the blob's end).
    private func chunkRange(_ index: Int) -> (start: Int64, length: Int64) {
        let (start, end): (Int64, Int64)
        if index < lead.count {
            (start, end) = (index == 0 ? 0 : lead[index - 1], lead[index])
        } else {
            start = lead.last! + Int64(index - lead.count) * chunkSize
            end = start + chunkSize
        }
        return (start, min(end, digest.sizeBytes) - start)
    }

    private func chunkIndex(_ offset: Int64) -> Int {
        if let index = lead.firstIndex(where: { offset < $0 }) { return index }
        return lead.count + Int((offset - lead.last!) / chunkSize)
    }

    private func covered(_ start: Int64, _ end: Int64, _ received: [Int64]) -> Bool {
        guard end > start else { return true }
        for index in chunkIndex(start)...chunkIndex(end - 1) {
            let chunk = chunkRange(index)
            if chunk.start + received[index] < min(end, chunk.start + chunk.length) { return false }
        }
        return true
    }

    /// The chunks a reader of bytes `start ..< end` waits for (at most ``parallelChunks``): a
    /// read that runs past the small first chunk must not wait for that chunk to end before
    /// the next one is asked for.
    private func chunks(_ start: Int64, _ end: Int64) -> ClosedRange<Int> {
        let first = chunkIndex(start)
        return first...max(first, min(chunkIndex(max(start, end - 1)), first + parallelChunks - 1))
    }

    /// Starts chunks: the demanded ones whatever the limit, then the next ones in order while
    /// fewer than `parallelChunks` are running. Until the first bytes have come, one chunk runs
    /// alone: the first reader waits for them, and megabytes of later chunks arriving at the
    /// same time would share the connection, the server's disk and our threads with them.
    private func startChunks(demanded: ClosedRange<Int>?) {
        let toStart = state.withLock { s -> [Int] in
            guard s.outcome == nil else { return [] }
            var picked: [Int] = []
            if let demanded {
                for index in demanded where index < s.started.count && !s.started[index] { picked.append(index) }
            }
            let limit = s.received.contains { $0 > 0 } ? parallelChunks : 1
            var next = 0
            while s.running + picked.count < limit, next < s.started.count {
                if !s.started[next] && !picked.contains(next) { picked.append(next) }
                next += 1
            }
            for i in picked { s.started[i] = true }
            s.running += picked.count
            return picked
        }
        for index in toStart {
            Task { await self.runChunk(index) }
        }
    }

    private func runChunk(_ index: Int) async {
        let chunk = chunkRange(index)
        var lastError: CASError?
        // Another chunk failed: the stream is over, stop spending bandwidth on it.
        let (start, over) = state.withLock { ($0.received[index], $0.outcome != nil) }
        if over { return }
        do {
            try await source.read(digest, range: (chunk.start + start)..<(chunk.start + chunk.length)) { data throws(CASError) in
                try self.arrived(data, chunk: index)
            }
        } catch {
            lastError = error
        }
        let have = state.withLock { $0.received[index] }
        if have < chunk.length {
            finish(.failure(lastError ?? CASError(.remote, "the server sent \(have) of \(chunk.length) bytes of range \(chunk.start)+\(chunk.length)")))
            return
        }
        let allDone = state.withLock { s -> Bool in
            s.running -= 1
            guard !s.committing, s.received.indices.allSatisfy({ s.received[$0] >= chunkRange($0).length }) else { return false }
            s.committing = true
            return true
        }
        if allDone {
            do {
                try blob.commit()
                finish(.success(()))
            } catch {
                finish(.failure(error))
            }
        } else {
            startChunks(demanded: nil)
        }
    }

    /// Stores one message of chunk `index` and wakes the readers it satisfies.
    private func arrived(_ data: Data, chunk index: Int) throws(CASError) {
        let chunk = chunkRange(index)
        let offset = chunk.start + state.withLock { $0.received[index] }
        guard offset + Int64(data.count) <= chunk.start + chunk.length else {
            throw CASError(.corrupt, "the server sent more than the \(chunk.length) bytes asked for at offset \(chunk.start) of blob \(digest)")
        }
        try blob.write(data, at: offset)
        let (ready, first) = state.withLock { s -> ([CheckedContinuation<Void, any Error>], Bool) in
            let first = !s.received.contains { $0 > 0 }
            s.received[index] += Int64(data.count)
            var ready: [CheckedContinuation<Void, any Error>] = []
            s.waiters.removeAll { w in
                guard covered(w.start, w.end, s.received) else { return false }
                ready.append(w.continuation)
                return true
            }
            return (ready, first)
        }
        for c in ready { c.resume() }
        if first { startChunks(demanded: nil) }
    }

    private func finish(_ outcome: Result<Void, CASError>) {
        let (waiters, completion) = state.withLock { s -> ([Waiter], [CheckedContinuation<Void, any Error>]) in
            guard s.outcome == nil else { return ([], []) }
            s.outcome = outcome
            defer { s.waiters = []; s.completion = [] }
            return (s.waiters, s.completion)
        }
        if case .failure = outcome { blob.abort() }
        onFinish(self, outcome)
        for w in waiters { w.continuation.resume(with: outcome) }
        for c in completion { c.resume(with: outcome) }
    }
}
