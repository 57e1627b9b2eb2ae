import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import REAPI
import Synchronization

/// The faults a ``FaultInjectingProxy`` applies to the calls passing through it.
public struct Faults: Sendable {
    /// Flip a byte in every blob returned by BatchReadBlobs and ByteStream.Read.
    public var corruptReads = false
    /// Per method name (`BatchReadBlobs`, `FindMissingBlobs`, …): how many of the next calls to
    /// answer with UNAVAILABLE instead of forwarding.
    public var failNext: [String: Int] = [:]
    /// Sleep this long before forwarding any call.
    public var delay: Duration = .zero

    public init() {}
}

/// A CAS server that forwards Capabilities, ContentAddressableStorage and ByteStream calls to a
/// real upstream server, injecting ``Faults`` on the way. It exists only to inject faults: all
/// behaviour comes from the upstream.
public final class FaultInjectingProxy: Sendable {
    public let port: Int
    public var url: String { "grpc://127.0.0.1:\(port)" }
    private let handler: ProxyHandler
    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let upstream: GRPCClient<HTTP2ClientTransport.Posix>
    private let tasks: [Task<Void, Never>]

    /// - Parameter tls: PEM certificate and key files to serve TLS with; plaintext when nil.
    public init(upstreamPort: Int, tls: (cert: String, key: String)? = nil) async throws {
        // An upstream that was killed and restarted is found again within half a second.
        let upstream = GRPCClient(transport: try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: upstreamPort), transportSecurity: .plaintext,
            config: .defaults {
                $0.backoff.initial = .milliseconds(50)
                $0.backoff.max = .milliseconds(500)
            }))
        self.upstream = upstream
        let security: HTTP2ServerTransport.Posix.TransportSecurity = tls.map {
            .tls(certificateChain: [.file(path: $0.cert, format: .pem)], privateKey: .file(path: $0.key, format: .pem))
        } ?? .plaintext
        let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0),
                                                   transportSecurity: security)
        let handler = ProxyHandler(upstream: upstream)
        self.handler = handler
        server = GRPCServer(transport: transport, services: [
            CASService(handler), ByteStreamService(handler), CapabilitiesService(handler),
        ], interceptors: [MetadataRecorder(handler: handler)])
        let server = self.server
        tasks = [
            Task { try? await upstream.runConnections() },
            Task { try? await server.serve() },
        ]
        guard let address = try await transport.listeningAddress.ipv4 else {
            throw TestSupportError("proxy did not bind")
        }
        port = address.port
    }

    /// Changes the faults for the calls that follow.
    public func setFaults(_ change: (inout Faults) -> Void) {
        handler.faults.withLock { change(&$0) }
    }

    /// Calls seen for `method` so far.
    public func calls(_ method: String) -> Int { handler.seen.withLock { $0[method] ?? 0 } }

    /// The `authorization` metadata of every call so far (empty string for calls without one).
    public var authorizations: [String] { handler.authorizations.withLock { $0 } }

    public func stop() async {
        server.beginGracefulShutdown()
        upstream.beginGracefulShutdown()
        for task in tasks { await task.value }
    }
}

/// The shared forwarding logic: counts, delays, fails and corrupts as ``Faults`` say.
final class ProxyHandler: Sendable {
    let upstream: GRPCClient<HTTP2ClientTransport.Posix>
    let faults = Mutex(Faults())
    /// Calls seen per method, counting the faulted ones.
    let seen = Mutex<[String: Int]>([:])
    let authorizations = Mutex<[String]>([])

    init(upstream: GRPCClient<HTTP2ClientTransport.Posix>) {
        self.upstream = upstream
    }

    func enter(_ method: String) async throws -> Faults {
        seen.withLock { $0[method, default: 0] += 1 }
        let current = faults.withLock { f -> Faults in
            let copy = f
            if let n = f.failNext[method], n > 0 { f.failNext[method] = n - 1 }
            return copy
        }
        if current.delay > .zero { try await Task.sleep(for: current.delay) }
        if let n = current.failNext[method], n > 0 {
            throw RPCError(code: .unavailable, message: "injected fault")
        }
        return current
    }

    static func corrupt(_ data: Data) -> Data {
        guard !data.isEmpty else { return Data([0]) }
        var d = data
        d[d.startIndex] ^= 0xff
        return d
    }
}

/// Records each call's `authorization` header.
struct MetadataRecorder: ServerInterceptor {
    let handler: ProxyHandler

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let value = request.metadata[stringValues: "authorization"].first(where: { _ in true }) ?? ""
        handler.authorizations.withLock { $0.append(value) }
        return try await next(request, context)
    }
}

struct CASService: Build_Bazel_Remote_Execution_V2_ContentAddressableStorage.SimpleServiceProtocol {
    let h: ProxyHandler
    init(_ h: ProxyHandler) { self.h = h }
    var cas: Build_Bazel_Remote_Execution_V2_ContentAddressableStorage.Client<HTTP2ClientTransport.Posix> { .init(wrapping: h.upstream) }

    func findMissingBlobs(request: Build_Bazel_Remote_Execution_V2_FindMissingBlobsRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Execution_V2_FindMissingBlobsResponse {
        _ = try await h.enter("FindMissingBlobs")
        return try await cas.findMissingBlobs(request)
    }

    func batchUpdateBlobs(request: Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsResponse {
        _ = try await h.enter("BatchUpdateBlobs")
        return try await cas.batchUpdateBlobs(request)
    }

    func batchReadBlobs(request: Build_Bazel_Remote_Execution_V2_BatchReadBlobsRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Execution_V2_BatchReadBlobsResponse {
        let f = try await h.enter("BatchReadBlobs")
        var response = try await cas.batchReadBlobs(request)
        if f.corruptReads {
            for i in response.responses.indices { response.responses[i].data = ProxyHandler.corrupt(response.responses[i].data) }
        }
        return response
    }

    func getTree(request: Build_Bazel_Remote_Execution_V2_GetTreeRequest, response: RPCWriter<Build_Bazel_Remote_Execution_V2_GetTreeResponse>, context: ServerContext) async throws {
        _ = try await h.enter("GetTree")
        let pages = try await cas.getTree(request) { r in
            var pages: [Build_Bazel_Remote_Execution_V2_GetTreeResponse] = []
            for try await page in r.messages { pages.append(page) }
            return pages
        }
        try await response.write(contentsOf: pages)
    }
}

struct ByteStreamService: Google_Bytestream_ByteStream.SimpleServiceProtocol {
    let h: ProxyHandler
    init(_ h: ProxyHandler) { self.h = h }
    var bs: Google_Bytestream_ByteStream.Client<HTTP2ClientTransport.Posix> { .init(wrapping: h.upstream) }

    func read(request: Google_Bytestream_ReadRequest, response: RPCWriter<Google_Bytestream_ReadResponse>, context: ServerContext) async throws {
        let f = try await h.enter("Read")
        let chunks = try await bs.read(request) { r in
            var chunks: [Google_Bytestream_ReadResponse] = []
            for try await chunk in r.messages { chunks.append(chunk) }
            return chunks
        }
        for (i, var chunk) in chunks.enumerated() {
            if f.corruptReads && i == 0 { chunk.data = ProxyHandler.corrupt(chunk.data) }
            try await response.write(chunk)
        }
    }

    func write(request: RPCAsyncSequence<Google_Bytestream_WriteRequest, any Error>, context: ServerContext) async throws -> Google_Bytestream_WriteResponse {
        _ = try await h.enter("Write")
        var messages: [Google_Bytestream_WriteRequest] = []
        for try await m in request { messages.append(m) }
        let all = messages
        return try await bs.write(request: StreamingClientRequest { writer in try await writer.write(contentsOf: all) })
    }

    func queryWriteStatus(request: Google_Bytestream_QueryWriteStatusRequest, context: ServerContext) async throws -> Google_Bytestream_QueryWriteStatusResponse {
        _ = try await h.enter("QueryWriteStatus")
        return try await bs.queryWriteStatus(request)
    }
}

struct CapabilitiesService: Build_Bazel_Remote_Execution_V2_Capabilities.SimpleServiceProtocol {
    let h: ProxyHandler
    init(_ h: ProxyHandler) { self.h = h }

    func getCapabilities(request: Build_Bazel_Remote_Execution_V2_GetCapabilitiesRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Execution_V2_ServerCapabilities {
        _ = try await h.enter("GetCapabilities")
        return try await Build_Bazel_Remote_Execution_V2_Capabilities.Client(wrapping: h.upstream).getCapabilities(request)
    }
}
