import Foundation
import GRPCCore
import LocalCAS
import REAPI
import Sandbox

/// ActionCache: results by action digest. A result is only returned while every blob it names
/// is in the CAS, so a client that gets a hit can always fetch what it points to.
struct ActionCacheService: Build_Bazel_Remote_Execution_V2_ActionCache.SimpleServiceProtocol {
    let storage: ServerStorage

    func getActionResult(request: Build_Bazel_Remote_Execution_V2_GetActionResultRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Execution_V2_ActionResult {
        let action = try Digest.fromRequest(request.actionDigest, field: "action_digest")
        guard let result = storage.cachedResult(for: action) else {
            throw RPCError(code: .notFound, message: "no result for action \(action)")
        }
        return result
    }

    func updateActionResult(request: Build_Bazel_Remote_Execution_V2_UpdateActionResultRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Execution_V2_ActionResult {
        let action = try Digest.fromRequest(request.actionDigest, field: "action_digest")
        do {
            try storage.storeResult(request.actionResult, for: action)
        } catch {
            throw RPCError(cas: error)
        }
        return request.actionResult
    }
}

extension ServerStorage {
    /// The cached result of `action` if there is one and every blob it names is present.
    func cachedResult(for action: Digest) -> Build_Bazel_Remote_Execution_V2_ActionResult? {
        guard let data = actionCache.read(Self.key(action)),
              let result = try? Build_Bazel_Remote_Execution_V2_ActionResult(serializedBytes: data) else { return nil }
        // Every blob, inside output directories too: a hit must be fetchable whole.
        guard let top = try? result.topLevelBlobs.map({ try Digest($0) }), cas.missing(top).isEmpty else { return nil }
        let digests = referencedBlobs(of: result)
        guard cas.missing(digests).isEmpty else { return nil }
        used(digests)
        return result
    }

    /// Every blob a result needs, the content of its output directories included.
    func referencedBlobs(of result: Build_Bazel_Remote_Execution_V2_ActionResult) -> [Digest] {
        result.referencedBlobs(in: cas)
    }

    /// Caches `result`, and keeps what it names from eviction for a while.
    func storeResult(_ result: Build_Bazel_Remote_Execution_V2_ActionResult, for action: Digest) throws(CASError) {
        quota?.protect(referencedBlobs(of: result), for: Self.freshResult)
        let data: Data
        do {
            data = try result.serializedData()
        } catch {
            throw CASError(.invalidArgument, "cannot serialize the ActionResult of \(action)", cause: error)
        }
        try actionCache.write(Self.key(action), data)
    }

    static func key(_ digest: Digest) -> String { "\(digest.hash)_\(digest.sizeBytes)" }
}
