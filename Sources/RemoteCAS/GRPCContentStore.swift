import FoundationEssentials
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import LocalCAS
import REAPI
import Synchronization

/// One server's ContentAddressableStorage and ByteStream services as a ``ContentStore``: each
/// operation is one RPC (a blob over the server's batch limit goes by ByteStream), attempted
/// once, its bytes checked against the digests' sizes. Nothing else: retries, packing many
/// blobs into several batches, counting and caching are the decorators' (``RetryingContentStore``,
/// ``BatchingContentStore``, ``MetricsContentStore``, ``ReadCachingContentStore``).
///
/// Also the server's limits (GetCapabilities, asked once) and GetTree, which are not blob
/// operations.
///
/// Thread safety: immutable apart from the cached limits, which sit behind a `Mutex`.
public final class GRPCContentStore: ContentStore {
    public let configuration: RemoteConfiguration
    /// Where each attempt is counted.
    let metrics: Metrics
    public var instance: String { configuration.instance }
    public var endpoint: RemoteEndpoint { configuration.endpoint }
    typealias Transport = HTTP2ClientTransport.Posix
    private let cas: Build_Bazel_Remote_Execution_V2_ContentAddressableStorage.Client<Transport>
    private let byteStream: Google_Bytestream_ByteStream.Client<Transport>
    private let capabilitiesStub: Build_Bazel_Remote_Execution_V2_Capabilities.Client<Transport>
    private let cachedBatchLimit = Mutex<Task<Int64, any Error>?>(nil)

    /// Bytes of blob data in one batch call when the server sets no lower limit; stays clear of
    /// gRPC's default 4 MiB message size with room for the message framing.
    public static let defaultBatchLimit: Int64 = 3_670_016
    /// Bytes per ByteStream Write message.
    public static let streamChunkSize: Int64 = 1 << 20
    /// Digests per FindMissingBlobs request: ≈80 bytes each keeps a request under 4 MiB.
    public static let findMissingLimit = 40_000

    init(client: GRPCClient<Transport>, configuration: RemoteConfiguration, metrics: Metrics) {
        self.configuration = configuration
        self.metrics = metrics
        cas = .init(wrapping: client)
        byteStream = .init(wrapping: client)
        capabilitiesStub = .init(wrapping: client)
    }

    private func attempt<T: Sendable>(_ name: String, _ what: String = "", streaming: Bool = false,
                                      _ body: @escaping @Sendable () async throws -> T) async throws(CASError) -> T {
        try await RPCAttempt.run(name, what, on: configuration, metrics: metrics, streaming: streaming, body)
    }

    // MARK: Capabilities

    /// The server's capabilities (retried).
    public func capabilities() async throws(CASError) -> Build_Bazel_Remote_Execution_V2_ServerCapabilities {
        var request = Build_Bazel_Remote_Execution_V2_GetCapabilitiesRequest()
        request.instanceName = instance
        return try await configuration.retryPolicy().run { () async throws(CASError) in
            try await attempt("GetCapabilities") { [capabilitiesStub, request] in try await capabilitiesStub.getCapabilities(request) }
        }
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
            throw CASError.wrapping(error, "asking \(endpoint) for its limits", default: .remote)
        }
    }

    // MARK: ContentStore

    /// One FindMissingBlobs call (the caller keeps it under ``findMissingLimit`` digests).
    public func findMissing(_ digests: [Digest]) async throws(CASError) -> Set<Digest> {
        guard !digests.isEmpty else { return [] }
        var request = Build_Bazel_Remote_Execution_V2_FindMissingBlobsRequest()
        request.instanceName = instance
        request.blobDigests = digests.map(\.proto)
        let response = try await attempt("FindMissingBlobs", "\(digests.count) digests") { [cas, request] in
            try await cas.findMissingBlobs(request)
        }
        var missing = Set<Digest>()
        for d in response.missingBlobDigests {
            do { missing.insert(try Digest(d)) } catch {
                throw CASError(.corrupt, "FindMissingBlobs on \(endpoint) returned a malformed digest", cause: error)
            }
        }
        return missing
    }

    /// Blobs within the batch limit in one BatchReadBlobs call (the caller keeps their sum
    /// under ``batchLimit()``), larger ones each by one ByteStream Read. Each blob comes with
    /// the status the server gave it, and is checked for size; the content is not hashed here
    /// (whoever keeps it does, once).
    public func get(_ digests: [Digest], receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async {
        let limit: Int64
        do { limit = try await batchLimit() } catch {
            for d in digests { await receive(d, .failure(error)) }
            return
        }
        let small = digests.filter { $0.sizeBytes <= limit }
        for digest in digests where digest.sizeBytes > limit {
            do throws(CASError) {
                await receive(digest, .success(.bytes(try await readWhole(digest))))
            } catch {
                await receive(digest, .failure(error))
            }
        }
        guard !small.isEmpty else { return }
        let results: [Digest: Result<Data, CASError>]
        do throws(CASError) { results = try await batchRead(small) } catch {
            for d in small { await receive(d, .failure(error)) }
            return
        }
        for d in small {
            await receive(d, results[d].map { $0.map(Blob.bytes) }
                ?? .failure(CASError(.remote, "BatchReadBlobs on \(endpoint) did not answer for blob \(d)")))
        }
    }

    private func batchRead(_ digests: [Digest]) async throws(CASError) -> [Digest: Result<Data, CASError>] {
        var request = Build_Bazel_Remote_Execution_V2_BatchReadBlobsRequest()
        request.instanceName = instance
        request.digests = digests.map(\.proto)
        let response = try await attempt("BatchReadBlobs", "\(digests.count) blobs") { [cas, request] in
            try await cas.batchReadBlobs(request)
        }
        var results: [Digest: Result<Data, CASError>] = [:]
        let requested = Set(digests)
        for r in response.responses {
            guard let digest = try? Digest(r.digest), requested.contains(digest) else { continue }
            if r.status.rpcCode == .notFound {
                results[digest] = .failure(CASError(.notFound, "blob \(digest) is not on \(endpoint)"))
            } else if !r.status.isOK {
                results[digest] = .failure(CASError(.remote, "BatchReadBlobs on \(endpoint): blob \(digest): code \(r.status.code): \(r.status.message)"))
            } else if Int64(r.data.count) != digest.sizeBytes {
                results[digest] = .failure(CASError(.corrupt, "blob \(digest) from \(endpoint) has \(r.data.count) bytes"))
            } else {
                results[digest] = .success(r.data)
            }
        }
        return results
    }

    private func readWhole(_ digest: Digest) async throws(CASError) -> Data {
        let data = try await read(digest, range: 0..<digest.sizeBytes)
        guard Int64(data.count) == digest.sizeBytes else {
            throw CASError(.corrupt, "blob \(digest) from \(endpoint) has \(data.count) bytes")
        }
        return data
    }

    func readResourceName(_ digest: Digest) -> String {
        (instance.isEmpty ? "" : instance + "/") + "blobs/\(digest.hash)/\(digest.sizeBytes)"
    }

    func writeResourceName(_ digest: Digest) -> String {
        (instance.isEmpty ? "" : instance + "/") + "uploads/\(UUID().uuidString.lowercased())/blobs/\(digest.hash)/\(digest.sizeBytes)"
    }

    /// One ByteStream Read of `range`, handing each message's bytes to `sink` as it arrives. A
    /// stream that ends early is UNAVAILABLE (a retry resumes where it stopped).
    public func read(_ digest: Digest, range: Range<Int64>,
                     into sink: @escaping @Sendable (Data) throws(CASError) -> Void) async throws(CASError) {
        guard !range.isEmpty else { return }
        var request = Google_Bytestream_ReadRequest()
        request.resourceName = readResourceName(digest)
        request.readOffset = range.lowerBound
        // A limit reaching the end is the same as none, which every server understands.
        request.readLimit = range.upperBound >= digest.sizeBytes ? 0 : Int64(range.count)
        let wanted = Int64(range.count)
        try await attempt("ByteStream.Read", "blob \(digest)", streaming: true) { [byteStream, request] in
            try await byteStream.read(request) { response in
                var left = wanted
                for try await message in response.messages {
                    // Some servers (BuildGrid 0.4.4's disk storage) send past read_limit: keep
                    // what was asked for and end the stream there.
                    let overrun = Int64(message.data.count) >= left
                    let data = overrun ? message.data.prefix(Int(left)) : message.data
                    try sink(data)
                    left -= Int64(data.count)
                    if overrun { break }
                }
                if left > 0 {
                    throw RPCError(code: .unavailable, message: "the stream ended \(left) bytes short of the \(wanted) asked for")
                }
            }
        }
    }

    /// Blobs within the batch limit in one BatchUpdateBlobs call (the caller keeps their sum
    /// under ``batchLimit()``), larger ones each by one ByteStream Write.
    public func put(_ blobs: [Digest: Blob]) async throws(CASError) {
        let limit = try await batchLimit()
        var small: [(Digest, Data)] = []
        for (digest, blob) in blobs.sorted(by: { $0.key < $1.key }) {
            if digest.sizeBytes > limit {
                try await write(digest, from: blob)
                continue
            }
            let data = try await blob.data(size: digest.sizeBytes)
            guard Int64(data.count) == digest.sizeBytes else {
                throw CASError(.corrupt, "content for blob \(digest) changed size (now \(data.count) bytes)")
            }
            small.append((digest, data))
        }
        guard !small.isEmpty else { return }
        var request = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest()
        request.instanceName = instance
        request.requests = small.map { digest, data in
            var r = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest.Request()
            r.digest = digest.proto
            r.data = data
            return r
        }
        let response = try await attempt("BatchUpdateBlobs", "\(small.count) blobs") { [cas, request] in
            try await cas.batchUpdateBlobs(request)
        }
        if let bad = response.responses.first(where: { !$0.status.isOK }) {
            throw CASError(.remote, "BatchUpdateBlobs on \(endpoint) refused blob \(bad.digest.hash)/\(bad.digest.sizeBytes): code \(bad.status.code): \(bad.status.message)")
        }
    }

    /// One ByteStream Write of `blob`, a chunk at a time.
    private func write(_ digest: Digest, from blob: Blob) async throws(CASError) {
        let resource = writeResourceName(digest)
        let endpoint = self.endpoint
        let response = try await attempt("ByteStream.Write", "blob \(digest)", streaming: true) { [byteStream] in
            let request = StreamingClientRequest<Google_Bytestream_WriteRequest> { writer in
                var offset: Int64 = 0
                repeat {
                    let chunk = try await blob.read(offset..<min(digest.sizeBytes, offset + Self.streamChunkSize))
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
    }

    /// A remote store hands nothing on without a call.
    public func available(_ digest: Digest) -> Blob? { nil }

    // MARK: GetTree

    /// Every Directory node under `root` as the server sends them, following page tokens until
    /// the server has no more. Each page is retried by the connection's policy.
    public func getTree(_ root: Digest) async throws(CASError) -> [Build_Bazel_Remote_Execution_V2_Directory] {
        var directories: [Build_Bazel_Remote_Execution_V2_Directory] = []
        var pageToken = ""
        repeat {
            var request = Build_Bazel_Remote_Execution_V2_GetTreeRequest()
            request.instanceName = instance
            request.rootDigest = root.proto
            request.pageToken = pageToken
            let (page, next) = try await configuration.retryPolicy(transfer: true).run {
                () async throws(CASError) -> ([Build_Bazel_Remote_Execution_V2_Directory], String) in
                try await attempt("GetTree", "root \(root)", streaming: true) { [cas, request] in
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
            }
            directories += page
            pageToken = next
        } while !pageToken.isEmpty
        return directories
    }
}
