import Foundation
import LocalCAS
import Synchronization

/// Brings blobs from the remote CAS into the local one, verified, with **single flight**:
/// however many tasks ask for the same missing blob at once, it is transferred once and every
/// asker waits on that one transfer.
///
/// Small blobs asked for together go in BatchReadBlobs calls up to the server's limit; blobs
/// over the limit come as a ``BlobStream`` of ranged ByteStream reads, made visible only when
/// complete and verified. A failed fetch leaves nothing behind, so the next request tries again.
///
/// Thread safety: all methods may be called concurrently. `inflight` is the only mutable state.
public final class BlobFetcher: Sendable {
    public let client: CASClient
    public let store: LocalContentStore
    private let inflight = Mutex(Inflight())
    private let transferredCount = Mutex((blobs: 0, bytes: Int64(0)))

    /// INVARIANT: a digest is in `blobs` exactly while a transfer that will store it is
    /// running, and in `streams` while that transfer is a stream others may read as it arrives.
    private struct Inflight {
        var blobs: [Digest: PendingBlob] = [:]
        var streams: [Digest: BlobStream] = [:]
    }

    public init(client: CASClient, store: LocalContentStore) {
        self.client = client
        self.store = store
    }

    /// Makes `digest` local, fetching it if needed.
    public func fetch(_ digest: Digest) async throws(CASError) {
        try await fetch([digest])
    }

    /// Makes every digest local, fetching the missing ones in as few calls as the limits allow.
    /// `companions` ride in the same calls but are not waited for: a guess at what is needed
    /// next, stored after the blobs that are needed now.
    /// - Throws: the error of the first blob of `digests` that could not be made local.
    public func fetch(_ digests: [Digest], alongWith companions: [Digest] = []) async throws(CASError) {
        let missing = store.missing(digests)
        guard !missing.isEmpty else { return }
        let extra = store.missing(companions)
        var waits: [(Digest, PendingBlob)] = []
        let (mine, theirs) = inflight.withLock { map -> ([Digest], [Digest]) in
            var mine: [Digest] = [], theirs: [Digest] = []
            // A transfer may have stored a blob and left the map since `missing` was computed:
            // check the store again under the lock, or that blob would be fetched twice.
            for d in missing {
                if let running = map.blobs[d] {
                    waits.append((d, running))
                } else if !store.contains(d) {
                    let pending = PendingBlob()
                    map.blobs[d] = pending
                    waits.append((d, pending))
                    mine.append(d)
                }
            }
            for d in extra where map.blobs[d] == nil && !store.contains(d) {
                map.blobs[d] = PendingBlob()
                theirs.append(d)
            }
            return (mine, theirs)
        }
        if !mine.isEmpty || !theirs.isEmpty {
            Task { await transfer(mine + theirs, first: Set(mine)) }
        }
        var firstError: CASError?
        for (_, pending) in waits {
            do { try await pending.wait() } catch { firstError = firstError ?? error }
        }
        // Judge by the store: a blob another process stored is as good as one we fetched.
        guard let stillMissing = missing.first(where: { !store.contains($0) }) else { return }
        throw CASError.wrapping(firstError ?? CASError(.remote, "blob \(stillMissing) was not fetched"),
                                "fetching blob \(stillMissing)", default: .remote)
    }

    /// Blobs this fetcher has brought in, and their bytes (a worker gives each action a fetcher
    /// of its own to count what that action fetched).
    public var transferred: (blobs: Int, bytes: Int64) { transferredCount.withLock { $0 } }

    /// Ends the wait for `digest`.
    private func finish(_ digest: Digest, _ outcome: Result<Void, CASError>) {
        if case .success = outcome {
            transferredCount.withLock { $0.blobs += 1; $0.bytes += digest.sizeBytes }
        }
        inflight.withLock { $0.blobs.removeValue(forKey: digest) }?.finish(outcome)
    }

    /// Transfers `digests` (each registered in `inflight`) and finishes every one of them,
    /// storing those in `first` before the others of the same batch.
    private func transfer(_ digests: [Digest], first: Set<Digest>) async {
        let plan: BatchPlan
        do {
            plan = BatchPlan(digests, limit: try await client.batchLimit())
        } catch {
            for d in digests { finish(d, .failure(error)) }
            return
        }
        enum Job: Sendable { case batch([Digest]), stream(Digest) }
        let jobs = plan.streams.map(Job.stream) + plan.batches.map(Job.batch)
        try? await forEachConcurrently(jobs, limit: client.connection.configuration.maxConcurrentTransfers) { job in
            switch job {
            case .batch(let batch):
                await self.readBatch(batch, first: first)
            case .stream(let digest):
                self.finish(digest, await self.stream(digest))
            }
        }
    }

    private func readBatch(_ batch: [Digest], first: Set<Digest>) async {
        let results: [Digest: Result<Data, CASError>]
        do {
            results = try await client.batchRead(batch)
        } catch {
            for d in batch { finish(d, .failure(error)) }
            return
        }
        let ordered = batch.filter(first.contains) + batch.filter { !first.contains($0) }
        for digest in ordered {
            switch results[digest] {
            case .success(let data)?:
                do {
                    // Verified here, once (batchRead does not hash).
                    try store.put(data, expecting: digest)
                    finish(digest, .success(()))
                } catch {
                    finish(digest, .failure(CASError.wrapping(error, "blob \(digest) from \(client.connection.configuration.endpoint)")))
                }
            case .failure(let error)?:
                finish(digest, .failure(error))
            case nil:
                finish(digest, .failure(CASError(.remote, "the server did not return blob \(digest) in BatchReadBlobs")))
            }
        }
    }

    /// A stream of a missing blob that can be read while it arrives: the running one if there
    /// is one, else a new one (`started` is then true). Nil if the blob is local, or is already
    /// coming some other way (in a batch): ``fetch(_:)`` waits for it then.
    public func stream(_ digest: Digest) throws(CASError) -> (stream: BlobStream, started: Bool)? {
        guard !store.contains(digest) else { return nil }
        let found: Result<(stream: BlobStream, started: Bool)?, CASError> = inflight.withLock { map in
            if let running = map.streams[digest] { return .success((running, false)) }
            // Checked again under the lock: a transfer may have just stored it and left.
            if map.blobs[digest] != nil || store.contains(digest) { return .success(nil) }
            let stream: BlobStream
            do throws(CASError) { stream = try makeStream(digest) } catch { return .failure(error) }
            map.streams[digest] = stream
            map.blobs[digest] = PendingBlob()
            return .success((stream, true))
        }
        guard let started = try found.get() else { return nil }
        if started.started {
            Task { finish(digest, await run(started.stream)) }
        }
        return started
    }

    private func makeStream(_ digest: Digest) throws(CASError) -> BlobStream {
        try BlobStream(digest: digest, client: client, store: store,
                       parallelChunks: max(1, client.connection.configuration.maxConcurrentTransfers / 4))
    }

    /// Streams one blob of a transfer into the store, open to readers while it arrives.
    private func stream(_ digest: Digest) async -> Result<Void, CASError> {
        let stream: BlobStream
        do {
            stream = try makeStream(digest)
        } catch {
            return .failure(error)
        }
        inflight.withLock { $0.streams[digest] = stream }
        return await run(stream)
    }

    /// Runs `stream` to its end and stops offering it to readers.
    private func run(_ stream: BlobStream) async -> Result<Void, CASError> {
        defer { inflight.withLock { _ = $0.streams.removeValue(forKey: stream.digest) } }
        do {
            try await stream.complete()
            return .success(())
        } catch {
            return .failure(CASError.wrapping(error, "reading blob \(stream.digest) from \(client.connection.configuration.endpoint)", default: .remote))
        }
    }
}
