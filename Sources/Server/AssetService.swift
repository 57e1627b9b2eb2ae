import Foundation
import GRPCCore
import LocalCAS
import REAPI

/// Remote Asset API: names (a URI plus qualifiers) for blobs and Directory trees that were
/// pushed here, e.g. an artifact name → its root digest. Fetch only answers from what was
/// pushed; this server downloads nothing from the URIs themselves. ``AssetFetchService`` and
/// ``AssetPushService`` are the two gRPC services over it.
struct AssetNames: Sendable {
    let storage: ServerStorage

    enum Kind: String { case blob, directory }

    /// The key of one name: independent of qualifier order, different per instance and kind.
    static func key(_ kind: Kind, instance: String, uri: String,
                    qualifiers: [Build_Bazel_Remote_Asset_V1_Qualifier]) -> String {
        let parts = [kind.rawValue, instance, uri] + qualifiers.map { "\($0.name)=\($0.value)" }.sorted()
        return Digest(data: Data(parts.joined(separator: "\n").utf8)).hash
    }

    func push(_ kind: Kind, instance: String, uris: [String], qualifiers: [Build_Bazel_Remote_Asset_V1_Qualifier],
              digest proto: Build_Bazel_Remote_Execution_V2_Digest) throws(RPCError) {
        guard !uris.isEmpty else { throw RPCError(code: .invalidArgument, message: "no uris given") }
        let digest = try Digest.fromRequest(proto, field: kind == .blob ? "blob_digest" : "root_directory_digest")
        guard storage.cas.contains(digest) else {
            throw RPCError(code: .failedPrecondition, message: "\(digest) is not in the CAS: upload it before naming it")
        }
        for uri in uris {
            do {
                try storage.assets.write(Self.key(kind, instance: instance, uri: uri, qualifiers: qualifiers), Data(digest.description.utf8))
            } catch {
                throw RPCError(cas: error)
            }
        }
    }

    /// The first of `uris` that names something still in the CAS.
    /// - Throws: INVALID_ARGUMENT for no URIs at all (clients such as BuildStream probe a server
    ///   with that request and expect this answer), NOT_FOUND when none is known.
    func fetch(_ kind: Kind, instance: String, uris: [String], qualifiers: [Build_Bazel_Remote_Asset_V1_Qualifier]) throws(RPCError) -> (uri: String, digest: Digest) {
        guard !uris.isEmpty else { throw RPCError(code: .invalidArgument, message: "no uris given") }
        for uri in uris {
            guard let data = storage.assets.read(Self.key(kind, instance: instance, uri: uri, qualifiers: qualifiers)),
                  let digest = try? Digest(parsing: String(decoding: data, as: UTF8.self)),
                  storage.cas.contains(digest) else { continue }
            return (uri, digest)
        }
        throw RPCError(code: .notFound, message: "no \(kind.rawValue) named \(uris.joined(separator: ", ")) with these qualifiers")
    }
}

struct AssetFetchService: Build_Bazel_Remote_Asset_V1_Fetch.SimpleServiceProtocol {
    let names: AssetNames

    func fetchBlob(request: Build_Bazel_Remote_Asset_V1_FetchBlobRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Asset_V1_FetchBlobResponse {
        let found = try names.fetch(.blob, instance: request.instanceName, uris: request.uris, qualifiers: request.qualifiers)
        var response = Build_Bazel_Remote_Asset_V1_FetchBlobResponse()
        response.uri = found.uri
        response.qualifiers = request.qualifiers
        response.blobDigest = found.digest.proto
        return response
    }

    func fetchDirectory(request: Build_Bazel_Remote_Asset_V1_FetchDirectoryRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Asset_V1_FetchDirectoryResponse {
        let found = try names.fetch(.directory, instance: request.instanceName, uris: request.uris, qualifiers: request.qualifiers)
        var response = Build_Bazel_Remote_Asset_V1_FetchDirectoryResponse()
        response.uri = found.uri
        response.qualifiers = request.qualifiers
        response.rootDirectoryDigest = found.digest.proto
        return response
    }
}

struct AssetPushService: Build_Bazel_Remote_Asset_V1_Push.SimpleServiceProtocol {
    let names: AssetNames

    func pushBlob(request: Build_Bazel_Remote_Asset_V1_PushBlobRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Asset_V1_PushBlobResponse {
        try names.push(.blob, instance: request.instanceName, uris: request.uris, qualifiers: request.qualifiers, digest: request.blobDigest)
        return Build_Bazel_Remote_Asset_V1_PushBlobResponse()
    }

    func pushDirectory(request: Build_Bazel_Remote_Asset_V1_PushDirectoryRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Asset_V1_PushDirectoryResponse {
        try names.push(.directory, instance: request.instanceName, uris: request.uris, qualifiers: request.qualifiers, digest: request.rootDirectoryDigest)
        return Build_Bazel_Remote_Asset_V1_PushDirectoryResponse()
    }
}
