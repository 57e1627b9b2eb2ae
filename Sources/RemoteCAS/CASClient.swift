import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import LocalCAS
import REAPI
import Synchronization

/// The REAPI ContentAddressableStorage, ByteStream and Capabilities services of one server,
/// as typed calls on ``Digest``s. Every blob received is verified against its digest before
/// it is handed on; errors name the call, the server and the blob.
///
/// Thread safety: immutable apart from the cached server limits, which sit behind a `Mutex`.
public final class CASClient: Sendable {
    public let connection: RemoteConnection
    public var instance: String { connection.configuration.instance }
    typealias Transport = HTTP2ClientTransport.Posix
    let cas: Build_Bazel_Remote_Execution_V2_ContentAddressableStorage.Client<Transport>
    let byteStream: Google_Bytestream_ByteStream.Client<Transport>
    let capabilitiesStub: Build_Bazel_Remote_Execution_V2_Capabilities.Client<Transport>
    private let cachedBatchLimit = Mutex<Task<Int64, any Error>?>(nil)

    /// Bytes of blob data in one batch call when the server sets no lower limit; stays clear of
    /// gRPC's default 4 MiB message size with room for the message framing.
    public static let defaultBatchLimit: Int64 = 3_670_016
    /// Bytes per ByteStream chunk.
    public static let streamChunkSize = 1 << 20

    public init(connection: RemoteConnection) {
        self.connection = connection
        cas = .init(wrapping: connection.client)
        byteStream = .init(wrapping: connection.client)
        capabilitiesStub = .init(wrapping: connection.client)
    }

    var counters: RPCCounters { connection.counters }

    func failure(_ call: String, _ error: any Error, _ what: String = "") -> CASError {
        if let casError = error as? CASError { return casError }
        let place = "\(call) on \(connection.configuration.endpoint)\(what.isEmpty ? "" : " (\(what))")"
        if let rpc = error as? RPCError {
            let code: CASError.Code = rpc.code == .notFound ? .notFound
                : rpc.code == .invalidArgument ? .invalidArgument : .remote
            return CASError(code, "\(place) failed: \(rpc.code): \(rpc.message)")
        }
        return CASError(.remote, "\(place) failed", cause: error)
    }

    /// Runs one call under the configured deadline, retrying it with exponential backoff on
    /// UNAVAILABLE, RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED, and turns its errors into
    /// ``CASError``s naming the call.
    ///
    /// The deadline covers every attempt. Retries are done here rather than by grpc-swift's
    /// retry policy: a retried attempt there queues behind the reconnecting channel until the
    /// deadline, so a server that is down would take the whole deadline to report. Here each
    /// attempt is a fresh call that fails fast, and ``withHardDeadline(_:_:)`` bounds a peer
    /// that never answers.
    func call<T: Sendable>(_ name: String, _ what: String = "", streaming: Bool = false,
                           retryIf mayRetry: @Sendable () -> Bool = { true },
                           _ body: @escaping @Sendable () async throws -> T) async throws(CASError) -> T {
        let config = connection.configuration
        let deadline = ContinuousClock.now + config.callTimeout * (streaming ? 10 : 1)
        var backoff = Duration.milliseconds(100)
        var attempt = 1
        while true {
            do {
                return try await withHardDeadline(ContinuousClock.now.duration(to: deadline) + .milliseconds(500), body)
            } catch {
                let retryable = (error as? RPCError).map { [.unavailable, .resourceExhausted, .deadlineExceeded].contains($0.code) } ?? false
                let pause = backoff * Double.random(in: 0.8...1.2)
                guard retryable, attempt < config.maxAttempts, mayRetry(), !Task.isCancelled,
                      ContinuousClock.now + pause < deadline else {
                    throw failure(name, error, what)
                }
                try? await Task.sleep(for: pause)
                backoff = min(backoff * 2, .seconds(2))
                attempt += 1
            }
        }
    }

    // MARK: Capabilities

    /// The server's capabilities.
    public func capabilities() async throws(CASError) -> Build_Bazel_Remote_Execution_V2_ServerCapabilities {
        var request = Build_Bazel_Remote_Execution_V2_GetCapabilitiesRequest()
        request.instanceName = instance
        return try await call("GetCapabilities") { [capabilitiesStub, request] in try await capabilitiesStub.getCapabilities(request) }
    }

    /// The most blob bytes one BatchUpdateBlobs/BatchReadBlobs call may carry: the server's
    /// `max_batch_total_size_bytes` (0 = no limit) capped at ``defaultBatchLimit``. Asked once,
    /// however many callers ask at the same time; a failed ask is retried by the next caller.
    public func batchLimit() async throws(CASError) -> Int64 {
        let task = cachedBatchLimit.withLock { cached in
            if let cached { return cached }
            let asking = Task { () async throws -> Int64 in
                let server = try await self.capabilities().cacheCapabilities.maxBatchTotalSizeBytes
                // Leave room for per-blob framing inside a server-advertised limit.
                return server > 0 ? min(Self.defaultBatchLimit, server - min(server / 8, 65536)) : Self.defaultBatchLimit
            }
            cached = asking
            return asking
        }
        do {
            return try await task.value
        } catch {
            cachedBatchLimit.withLock { if $0 == task { $0 = nil } }
            throw CASError.wrapping(error, "asking \(connection.configuration.endpoint) for its limits", default: .remote)
        }
    }

    // MARK: FindMissingBlobs

    /// Digests per FindMissingBlobs request: ≈80 bytes each keeps a request under 4 MiB.
    static let findMissingChunk = 40_000

    /// Of `digests`, those the server does not have. One call per ``findMissingChunk`` digests.
    public func findMissing(_ digests: some Collection<Digest>) async throws(CASError) -> Set<Digest> {
        let unique = Array(Set(digests)).sorted()
        var missing = Set<Digest>()
        for start in stride(from: 0, to: unique.count, by: Self.findMissingChunk) {
            var request = Build_Bazel_Remote_Execution_V2_FindMissingBlobsRequest()
            request.instanceName = instance
            request.blobDigests = unique[start..<min(start + Self.findMissingChunk, unique.count)].map(\.proto)
            let response = try await call("FindMissingBlobs", "\(request.blobDigests.count) digests") { [cas, request] in
                try await cas.findMissingBlobs(request)
            }
            for d in response.missingBlobDigests {
                do { missing.insert(try Digest(d)) } catch {
                    throw CASError(.corrupt, "FindMissingBlobs on \(connection.configuration.endpoint) returned a malformed digest", cause: error)
                }
            }
        }
        return missing
    }

    // MARK: Batches

    /// Uploads `blobs` in one BatchUpdateBlobs call; the caller keeps the batch under
    /// ``batchLimit()``. Throws naming the first blob the server refused.
    public func batchUpdate(_ blobs: [(Digest, Data)]) async throws(CASError) {
        var request = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest()
        request.instanceName = instance
        request.requests = blobs.map { digest, data in
            var r = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest.Request()
            r.digest = digest.proto
            r.data = data
            return r
        }
        let response = try await call("BatchUpdateBlobs", "\(blobs.count) blobs") { [cas, request] in
            try await cas.batchUpdateBlobs(request)
        }
        if let bad = response.responses.first(where: { !$0.status.isOK }) {
            throw CASError(.remote, "BatchUpdateBlobs on \(connection.configuration.endpoint) refused blob \(bad.digest.hash)/\(bad.digest.sizeBytes): code \(bad.status.code): \(bad.status.message)")
        }
        counters.recordSent(blobs: blobs.count, bytes: blobs.reduce(0) { $0 + $1.0.sizeBytes })
    }

    /// Downloads `digests` in one BatchReadBlobs call and verifies each blob.
    /// - Returns: per digest, the bytes the server sent (of the right size) or the error for that
    ///   blob. The content is not hashed here: whoever keeps it stores it with
    ///   `LocalContentStore.put(_:expecting:)`, which verifies it, so each blob is hashed once.
    public func batchRead(_ digests: [Digest]) async throws(CASError) -> [Digest: Result<Data, CASError>] {
        var request = Build_Bazel_Remote_Execution_V2_BatchReadBlobsRequest()
        request.instanceName = instance
        request.digests = digests.map(\.proto)
        let response = try await call("BatchReadBlobs", "\(digests.count) blobs") { [cas, request] in
            try await cas.batchReadBlobs(request)
        }
        var results: [Digest: Result<Data, CASError>] = [:]
        var received: Int64 = 0
        var count = 0
        let requested = Set(digests)
        for r in response.responses {
            guard let digest = try? Digest(r.digest), requested.contains(digest) else { continue }
            if r.status.rpcCode == .notFound {
                results[digest] = .failure(CASError(.notFound, "blob \(digest) is not on \(connection.configuration.endpoint)"))
            } else if !r.status.isOK {
                results[digest] = .failure(CASError(.remote, "BatchReadBlobs on \(connection.configuration.endpoint): blob \(digest): code \(r.status.code): \(r.status.message)"))
            } else if Int64(r.data.count) != digest.sizeBytes {
                results[digest] = .failure(CASError(.corrupt, "blob \(digest) from \(connection.configuration.endpoint) has \(r.data.count) bytes"))
            } else {
                results[digest] = .success(r.data)
                received += digest.sizeBytes
                count += 1
            }
        }
        for d in digests where results[d] == nil {
            results[d] = .failure(CASError(.remote, "BatchReadBlobs on \(connection.configuration.endpoint) did not answer for blob \(d)"))
        }
        counters.recordReceived(blobs: count, bytes: received)
        return results
    }

    // MARK: ByteStream

    func readResourceName(_ digest: Digest) -> String {
        (instance.isEmpty ? "" : instance + "/") + "blobs/\(digest.hash)/\(digest.sizeBytes)"
    }

    func writeResourceName(_ digest: Digest) -> String {
        (instance.isEmpty ? "" : instance + "/") + "uploads/\(UUID().uuidString.lowercased())/blobs/\(digest.hash)/\(digest.sizeBytes)"
    }

    /// Streams `limit` bytes (0 = to the end) of blob `digest` from `offset` into `sink`, one
    /// chunk at a time, as they arrive. The bytes are not verified here: the caller hashes them.
    public func read(_ digest: Digest, offset: Int64 = 0, limit: Int64 = 0,
                     into sink: @escaping @Sendable (Data) throws -> Void) async throws(CASError) {
        var request = Google_Bytestream_ReadRequest()
        request.resourceName = readResourceName(digest)
        request.readOffset = offset
        request.readLimit = limit
        // A stream that already delivered bytes cannot be replayed into the sink: retry only
        // while nothing has arrived.
        let delivered = Mutex(false)
        // Bytes are counted as they arrive: a reader may act on them before the call ends.
        try await call("ByteStream.Read", "blob \(digest)", streaming: true,
                       retryIf: { !delivered.withLock { $0 } }) { [byteStream, request, counters] in
            try await byteStream.read(request) { response in
                var left = limit
                for try await message in response.messages {
                    // The blob counts once, when its first bytes arrive.
                    let first = delivered.withLock { d in defer { d = true }; return !d }
                    // Some servers (BuildGrid 0.4.4's disk storage) send past read_limit: keep
                    // what was asked for and end the stream there.
                    let overrun = limit > 0 && Int64(message.data.count) >= left
                    let data = overrun ? message.data.prefix(Int(left)) : message.data
                    counters.recordReceived(blobs: first && offset == 0 ? 1 : 0, bytes: Int64(data.count))
                    try sink(data)
                    if overrun { break }
                    left -= Int64(data.count)
                }
            }
        }
    }

    /// Uploads blob `digest` by ByteStream Write, reading it chunk by chunk from `source`
    /// (called with an offset, returns the next chunk; empty at the end).
    public func write(_ digest: Digest, from source: @escaping @Sendable (Int64) async throws -> Data) async throws(CASError) {
        let resource = writeResourceName(digest)
        let endpoint = connection.configuration.endpoint
        let response = try await call("ByteStream.Write", "blob \(digest)", streaming: true) { [byteStream] in
            let request = StreamingClientRequest<Google_Bytestream_WriteRequest> { writer in
                var offset: Int64 = 0
                repeat {
                    let chunk = try await source(offset)
                    var message = Google_Bytestream_WriteRequest()
                    if offset == 0 { message.resourceName = resource }
                    message.writeOffset = offset
                    message.data = chunk
                    offset += Int64(chunk.count)
                    message.finishWrite = offset >= digest.sizeBytes
                    try await writer.write(message)
                    if chunk.isEmpty && !message.finishWrite {
                        throw CASError(.io, "source of blob \(digest) ended after \(offset) bytes")
                    }
                } while offset < digest.sizeBytes
            }
            return try await byteStream.write(request: request)
        }
        guard response.committedSize == digest.sizeBytes || response.committedSize == -1 else {
            throw CASError(.remote, "ByteStream.Write on \(endpoint) committed \(response.committedSize) of \(digest.sizeBytes) bytes of blob \(digest)")
        }
        counters.recordSent(blobs: 1, bytes: digest.sizeBytes)
    }

    // MARK: GetTree

    /// Every Directory node under `root` as the server sends them (serialized), following
    /// page tokens until the server has no more.
    public func getTree(_ root: Digest) async throws(CASError) -> [Build_Bazel_Remote_Execution_V2_Directory] {
        var directories: [Build_Bazel_Remote_Execution_V2_Directory] = []
        var pageToken = ""
        repeat {
            var request = Build_Bazel_Remote_Execution_V2_GetTreeRequest()
            request.instanceName = instance
            request.rootDigest = root.proto
            request.pageToken = pageToken
            let (page, next) = try await call("GetTree", "root \(root)", streaming: true) { [cas, request] in
                try await cas.getTree(request) { response in
                    var dirs: [Build_Bazel_Remote_Execution_V2_Directory] = []
                    var next = ""
                    for try await message in response.messages {
                        dirs.append(contentsOf: message.directories)
                        next = message.nextPageToken
                    }
                    return (dirs, next)
                }
            }
            directories += page
            pageToken = next
        } while !pageToken.isEmpty
        return directories
    }
}
