import Foundation
import LocalCAS
import Synchronization

/// Brings blobs from the remote CAS into the local one, verified, with **single flight**:
/// however many tasks ask for the same missing blob at once, it is transferred once and every
/// asker waits on that one transfer.
///
/// Small blobs asked for together go in BatchReadBlobs calls up to the server's limit; blobs
/// over the limit stream by ByteStream Read into a ``BlobWriter`` (hashed as they arrive, made
/// visible only when complete and verified). A failed fetch leaves nothing behind, so the next
/// request tries again.
///
/// Thread safety: all methods may be called concurrently. `inflight` is the only mutable state.
public final class BlobFetcher: Sendable {
    public let client: CASClient
    public let store: LocalContentStore
    /// INVARIANT: a digest has an entry exactly while a transfer that will store it is running.
    private let inflight = Mutex<[Digest: Task<Void, any Error>]>([:])

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
                if let running = map[d] { waits.append(running) } else { mine.append(d) }
            }
            guard !mine.isEmpty else { return }
            let batch = mine
            let task = Task { @Sendable [self] in
                defer { inflight.withLock { map in for d in batch { map[d] = nil } } }
                try await transfer(batch)
            }
            for d in mine { map[d] = task }
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

    /// Streams one blob into the store; the writer verifies it before it becomes visible.
    private func stream(_ digest: Digest) async throws {
        let writer = try store.makeWriter(expecting: digest)
        let box = WriterBox(writer)
        do {
            try await client.read(digest) { chunk in try box.write(chunk) }
            try box.commit()
        } catch {
            box.abort()
            throw CASError.wrapping(error, "reading blob \(digest) from \(client.connection.configuration.endpoint)", default: .remote)
        }
    }
}

/// Lets the ByteStream callback, which must be `@Sendable`, append to a ``BlobWriter``.
/// `@unchecked` is safe: gRPC delivers one stream's messages in order from one task, and the
/// owner touches the writer only after the stream has ended.
final class WriterBox: @unchecked Sendable {
    private let writer: BlobWriter
    init(_ writer: BlobWriter) { self.writer = writer }
    func write(_ data: Data) throws { try writer.write(data) }
    func commit() throws { try writer.commit() }
    func abort() { writer.abort() }
}
