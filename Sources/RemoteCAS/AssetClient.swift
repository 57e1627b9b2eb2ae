import LocalCAS
import REAPI

/// The Remote Asset API (v1) of one server: names (URIs) pointing at Directory trees.
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

    /// The tree `uri` names, or nil if the server knows no such name.
    public func fetchDirectory(uri: String) async throws(CASError) -> Digest? {
        var request = Build_Bazel_Remote_Asset_V1_FetchDirectoryRequest()
        request.instanceName = connection.configuration.instance
        request.uris = [uri]
        let response: Build_Bazel_Remote_Asset_V1_FetchDirectoryResponse
        do {
            response = try await connection.call("FetchDirectory", uri) { [fetch, request] in try await fetch.fetchDirectory(request) }
        } catch where error.code == .notFound {
            return nil
        }
        guard response.status.isOK else {
            if response.status.rpcCode == .notFound { return nil }
            throw CASError(.remote, "FetchDirectory \(uri) on \(connection.configuration.endpoint): code \(response.status.code): \(response.status.message)")
        }
        do {
            return try Digest(response.rootDirectoryDigest)
        } catch {
            throw CASError(.corrupt, "FetchDirectory \(uri) returned a malformed digest", cause: error)
        }
    }
}
