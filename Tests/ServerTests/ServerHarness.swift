import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import LocalCAS
import REAPI
import RemoteCAS
import TestSupport

/// Raw gRPC stubs for one server, for tests that speak the protocol directly (bad input that
/// our own client would never send).
struct Stubs: Sendable {
    let connection: RemoteConnection
    var cas: Build_Bazel_Remote_Execution_V2_ContentAddressableStorage.Client<HTTP2ClientTransport.Posix> { .init(wrapping: connection.client) }
    var byteStream: Google_Bytestream_ByteStream.Client<HTTP2ClientTransport.Posix> { .init(wrapping: connection.client) }
    var actionCache: Build_Bazel_Remote_Execution_V2_ActionCache.Client<HTTP2ClientTransport.Posix> { .init(wrapping: connection.client) }
    var execution: Build_Bazel_Remote_Execution_V2_Execution.Client<HTTP2ClientTransport.Posix> { .init(wrapping: connection.client) }
    var capabilities: Build_Bazel_Remote_Execution_V2_Capabilities.Client<HTTP2ClientTransport.Posix> { .init(wrapping: connection.client) }
    var assetFetch: Build_Bazel_Remote_Asset_V1_Fetch.Client<HTTP2ClientTransport.Posix> { .init(wrapping: connection.client) }
    var assetPush: Build_Bazel_Remote_Asset_V1_Push.Client<HTTP2ClientTransport.Posix> { .init(wrapping: connection.client) }

    static func with<T: Sendable>(_ server: TestServer, _ body: (Stubs) async throws -> T) async throws -> T {
        let config = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: server.url), maxAttempts: 1)
        return try await RemoteConnection.with(config) { try await body(Stubs(connection: $0)) }
    }
}

/// The gRPC status code a call failed with (nil if it succeeded).
func statusCode(_ body: () async throws -> Void) async -> RPCError.Code? {
    do {
        try await body()
        return nil
    } catch let error as RPCError {
        return error.code
    } catch {
        return .unknown
    }
}

extension Digest {
    var resource: String { "blobs/\(hash)/\(sizeBytes)" }
}

func readRequest(_ resource: String, offset: Int64 = 0, limit: Int64 = 0) -> Google_Bytestream_ReadRequest {
    var r = Google_Bytestream_ReadRequest()
    r.resourceName = resource
    r.readOffset = offset
    r.readLimit = limit
    return r
}

/// Reads a whole ByteStream response.
func readAll(_ stubs: Stubs, _ request: Google_Bytestream_ReadRequest) async throws -> Data {
    try await stubs.byteStream.read(request) { response in
        var data = Data()
        for try await m in response.messages { data.append(m.data) }
        return data
    }
}

/// Sends `messages` as one ByteStream Write.
func write(_ stubs: Stubs, _ messages: [Google_Bytestream_WriteRequest]) async throws -> Google_Bytestream_WriteResponse {
    try await stubs.byteStream.write(request: StreamingClientRequest { try await $0.write(contentsOf: messages) })
}

func writeMessage(_ resource: String, offset: Int64, data: Data, finish: Bool) -> Google_Bytestream_WriteRequest {
    var m = Google_Bytestream_WriteRequest()
    m.resourceName = resource
    m.writeOffset = offset
    m.data = data
    m.finishWrite = finish
    return m
}

/// A BatchUpdateBlobs request for `blobs`, each under its own digest unless `claiming` gives
/// the digest to send (for uploads that lie about their content).
func batchUpdate(_ blobs: [Data], claiming claimed: Digest? = nil) -> Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest {
    var batch = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest()
    batch.requests = blobs.map { data in
        var entry = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest.Request()
        entry.digest = (claimed ?? Digest(data: data)).proto
        entry.data = data
        return entry
    }
    return batch
}
