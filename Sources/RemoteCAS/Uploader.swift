import Foundation
import LocalCAS
import Glibc

/// Where the bytes of a blob to upload come from.
public enum BlobSource: Sendable {
    /// Bytes in memory.
    case data(Data)
    /// A local file (e.g. the source of a `cas put`).
    case file(String)
    /// The local CAS.
    case localCAS
}

/// What an upload did.
public struct UploadSummary: Sendable, Equatable {
    /// Blobs offered, and how many of them the server was missing (and so were sent).
    public var offered: Int
    public var missing: Int
    public var bytesSent: Int64
}

/// Progress of an upload, reported after every transfer.
public struct TransferProgress: Sendable {
    public var blobsDone: Int
    public var blobsTotal: Int
    public var bytesDone: Int64
    public var bytesTotal: Int64

    public init(blobsDone: Int, blobsTotal: Int, bytesDone: Int64, bytesTotal: Int64) {
        self.blobsDone = blobsDone
        self.blobsTotal = blobsTotal
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
    }
}

/// Uploads a set of blobs the way the design asks: one FindMissingBlobs for the whole set (split
/// only at the request size limit), then only the missing blobs, small ones packed into
/// BatchUpdateBlobs calls up to the server's limit and large ones by ByteStream, with a bounded
/// number of transfers in flight.
public struct Uploader: Sendable {
    public let client: CASClient
    public let store: LocalContentStore

    public init(client: CASClient, store: LocalContentStore) {
        self.client = client
        self.store = store
    }

    /// Uploads whichever of `blobs` the server is missing: one FindMissingBlobs, then ``send(_:from:progress:)``.
    public func upload(_ blobs: [Digest: BlobSource],
                       progress: (@Sendable (TransferProgress) -> Void)? = nil) async throws(CASError) -> UploadSummary {
        let missing = try await client.findMissing(blobs.keys)
        var summary = try await send(missing, from: blobs, progress: progress)
        summary.offered = blobs.count
        return summary
    }

    /// Uploads `missing` (which the caller found missing on the server), each from its source in
    /// `blobs`: small ones in batches up to the server's limit, large ones by ByteStream.
    public func send(_ missing: Set<Digest>, from blobs: [Digest: BlobSource],
                     progress: (@Sendable (TransferProgress) -> Void)? = nil) async throws(CASError) -> UploadSummary {
        guard !missing.isEmpty else { return UploadSummary(offered: missing.count, missing: 0, bytesSent: 0) }
        let plan = BatchPlan(missing, limit: try await client.batchLimit())
        let total = TransferProgress(blobsDone: 0, blobsTotal: missing.count, bytesDone: 0,
                                     bytesTotal: missing.reduce(0) { $0 + $1.sizeBytes })
        let tracker = ProgressTracker(total, report: progress)
        enum Job: Sendable { case batch([Digest]), stream(Digest) }
        let jobs = plan.streams.map(Job.stream) + plan.batches.map(Job.batch)
        do {
            try await forEachConcurrently(jobs, limit: client.connection.configuration.maxConcurrentTransfers) { job in
                switch job {
                case .batch(let digests):
                    let payload = try digests.map { d throws(CASError) in (d, try self.bytes(of: d, from: blobs[d] ?? .localCAS)) }
                    try await client.batchUpdate(payload)
                    tracker.advance(blobs: digests.count, bytes: digests.reduce(0) { $0 + $1.sizeBytes })
                case .stream(let digest):
                    try await self.stream(digest, from: blobs[digest] ?? .localCAS)
                    tracker.advance(blobs: 1, bytes: digest.sizeBytes)
                }
            }
        } catch {
            throw CASError.wrapping(error, "uploading to \(client.connection.configuration.endpoint)", default: .remote)
        }
        return UploadSummary(offered: missing.count, missing: missing.count, bytesSent: total.bytesTotal)
    }

    private func bytes(of digest: Digest, from source: BlobSource) throws(CASError) -> Data {
        let data: Data
        switch source {
        case .data(let d): data = d
        case .localCAS: data = try store.read(digest)
        case .file(let path):
            guard let d = FileManager.default.contents(atPath: path) else {
                throw CASError(.io, "cannot read \(path)")
            }
            data = d
        }
        guard Int64(data.count) == digest.sizeBytes else {
            throw CASError(.corrupt, "content for blob \(digest) changed size (now \(data.count) bytes)")
        }
        return data
    }

    private func stream(_ digest: Digest, from source: BlobSource) async throws(CASError) {
        if case .data(let data) = source {
            try await client.write(digest) { offset in
                data.subdata(in: Int(offset)..<min(data.count, Int(offset) + CASClient.streamChunkSize))
            }
            return
        }
        let path: String
        if case .file(let p) = source { path = p } else { path = store.path(of: digest) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CASError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let handle = FileDescriptorReader(fd: fd, path: path)
        try await client.write(digest) { offset in try handle.chunk(at: offset, size: CASClient.streamChunkSize) }
    }
}

/// Positional reads from a file descriptor owned by the caller; `pread` makes it safe to call
/// from any thread.
struct FileDescriptorReader: Sendable {
    let fd: Int32
    let path: String

    func chunk(at offset: Int64, size: Int) throws -> Data {
        var data = Data(count: size)
        let n = data.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, off_t(offset)) }
        guard n >= 0 else { throw CASError(.io, "reading \(path): \(String(cString: strerror(errno)))") }
        data.count = n
        return data
    }
}
