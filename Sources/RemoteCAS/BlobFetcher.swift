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

    /// INVARIANT: a digest is in `tasks` exactly while a transfer that will store it is running,
    /// and in `streams` while that transfer is a stream others may read from as it arrives.
    private struct Inflight {
        var tasks: [Digest: Task<Void, any Error>] = [:]
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
    /// - Throws: the error of the first blob that could not be made local.
    public func fetch(_ digests: [Digest]) async throws(CASError) {
        let missing = store.missing(digests)
        guard !missing.isEmpty else { return }
        var waits: [Task<Void, any Error>] = []
        inflight.withLock { map in
            var mine: [Digest] = []
            for d in missing {
                if let running = map.tasks[d] { waits.append(running) } else { mine.append(d) }
            }
            guard !mine.isEmpty else { return }
            let batch = mine
            let task = Task { @Sendable [self] in
                defer { inflight.withLock { map in for d in batch { map.tasks[d] = nil } } }
                try await transfer(batch)
            }
            for d in mine { map.tasks[d] = task }
            waits.append(task)
        }
        var firstError: (any Error)?
        for task in Set(waits) {
            do { try await task.value } catch { firstError = firstError ?? error }
        }
        // Another blob of a shared batch may have failed while ours arrived; judge by the store.
        guard let stillMissing = missing.first(where: { !store.contains($0) }) else { return }
        throw CASError.wrapping(firstError ?? CASError(.remote, "blob \(stillMissing) was not fetched"),
                                "fetching blob \(stillMissing)", default: .remote)
    }

    private func transfer(_ digests: [Digest]) async throws {
        let plan = BatchPlan(digests, limit: try await client.batchLimit())
        enum Job: Sendable { case batch([Digest]), stream(Digest) }
        let jobs = plan.streams.map(Job.stream) + plan.batches.map(Job.batch)
        try await forEachConcurrently(jobs, limit: client.connection.configuration.maxConcurrentTransfers) { job in
            switch job {
            case .batch(let batch):
                var firstError: CASError?
                for (digest, result) in try await self.client.batchRead(batch) {
                    switch result {
                    case .success(let data): try self.store.put(data, expecting: digest)
                    case .failure(let error): firstError = firstError ?? error
                    }
                }
                if let firstError { throw firstError }
            case .stream(let digest):
                try await self.stream(digest)
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
            if map.tasks[digest] != nil { return .success(nil) }
            let stream: BlobStream
            do throws(CASError) { stream = try makeStream(digest) } catch { return .failure(error) }
            map.streams[digest] = stream
            map.tasks[digest] = Task { @Sendable [self] in
                defer { inflight.withLock { $0.tasks[digest] = nil; $0.streams[digest] = nil } }
                try await stream.complete()
            }
            return .success((stream, true))
        }
        return try found.get()
    }

    private func makeStream(_ digest: Digest) throws(CASError) -> BlobStream {
        try BlobStream(digest: digest, client: client, store: store,
                       parallelChunks: max(1, client.connection.configuration.maxConcurrentTransfers / 4))
    }

    /// Streams one blob of a transfer into the store, open to readers while it arrives.
    private func stream(_ digest: Digest) async throws {
        let stream = try makeStream(digest)
        inflight.withLock { $0.streams[digest] = stream }
        defer { inflight.withLock { _ = $0.streams.removeValue(forKey: digest) } }
        do {
            try await stream.complete()
        } catch {
            throw CASError.wrapping(error, "reading blob \(digest) from \(client.connection.configuration.endpoint)", default: .remote)
        }
    }
}
