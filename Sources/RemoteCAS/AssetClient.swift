import LocalCAS
import REAPI

/// The Remote Asset API (v1) of one server: names (URIs) pointing at Directory trees and blobs.
public struct AssetClient: Sendable {
    let connection: RemoteConnection
    let push: Build_Bazel_Remote_Asset_V1_Push.Client<GRPCContentStore.Transport>
    let fetch: Build_Bazel_Remote_Asset_V1_Fetch.Client<GRPCContentStore.Transport>

    public init(connection: RemoteConnection) {
        self.connection = connection
        push = .init(wrapping: connection.client)
        fetch = .init(wrapping: connection.client)
    }

    /// Records that `uri` names the tree `root` (PushDirectory). The server may check that
    /// the whole tree is in its CAS first.
    public func pushDirectory(uri: String, root: Digest) async throws(CASError) {
        var request = Build_Bazel_Remote_Asset_V1_PushDirectoryRequest()
        request.instanceName = connection.configuration.instance
        request.uris = [uri]
        request.rootDirectoryDigest = root.proto
        _ = try await connection.call("PushDirectory", uri) { [push, request] in try await push.pushDirectory(request) }
    }

    /// Records that `uri` names the blob `digest` (PushBlob).
    public func pushBlob(uri: String, digest: Digest) async throws(CASError) {
        var request = Build_Bazel_Remote_Asset_V1_PushBlobRequest()
        request.instanceName = connection.configuration.instance
        request.uris = [uri]
        request.blobDigest = digest.proto
        _ = try await connection.call("PushBlob", uri) { [push, request] in try await push.pushBlob(request) }
    }

    /// The tree `uri` names, or nil if the server knows no such name.
    public func fetchDirectory(uri: String) async throws(CASError) -> Digest? {
        var request = Build_Bazel_Remote_Asset_V1_FetchDirectoryRequest()
        request.instanceName = connection.configuration.instance
        request.uris = [uri]
        return try await fetched("FetchDirectory", uri, status: \.status, digest: \.rootDirectoryDigest) { [fetch, request] in
            try await fetch.fetchDirectory(request)
        }
    }

    /// The blob `uri` names (FetchBlob, no qualifiers), or nil if the server knows no such name.
    public func fetchBlob(uri: String) async throws(CASError) -> Digest? {
        var request = Build_Bazel_Remote_Asset_V1_FetchBlobRequest()
        request.instanceName = connection.configuration.instance
        request.uris = [uri]
        return try await fetched("FetchBlob", uri, status: \.status, digest: \.blobDigest) { [fetch, request] in
            try await fetch.fetchBlob(request)
        }
    }

    /// The digest a Fetch call answered with; nil for NOT_FOUND, as a gRPC status or in the response.
    private func fetched<Response: Sendable>(
        _ method: String, _ uri: String,
        status: KeyPath<Response, Google_Rpc_Status>, digest: KeyPath<Response, Build_Bazel_Remote_Execution_V2_Digest>,
        _ call: @escaping @Sendable () async throws -> Response
    ) async throws(CASError) -> Digest? {
        let response: Response
        do {
            response = try await connection.call(method, uri, call)
        } catch where error.code == .notFound {
            return nil
        }
        let answer = response[keyPath: status]
        guard answer.isOK else {
            if answer.rpcCode == .notFound { return nil }
            throw CASError(.remote, "\(method) \(uri) on \(connection.configuration.endpoint): code \(answer.code): \(answer.message)")
        }
        do {
            return try Digest(response[keyPath: digest])
        } catch {
            throw CASError(.corrupt, "\(method) \(uri) returned a malformed digest", cause: error)
        }
    }
}
