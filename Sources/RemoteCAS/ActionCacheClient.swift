import GRPCCore
import LocalCAS
import REAPI

/// The REAPI ActionCache of one server: look up the result of an action by its digest.
public struct ActionCacheClient: Sendable {
    let connection: RemoteConnection
    let stub: Build_Bazel_Remote_Execution_V2_ActionCache.Client<GRPCContentStore.Transport>

    /// Calls go over `connection`, with its deadlines and retry policy.
    public init(connection: RemoteConnection) {
        self.connection = connection
        stub = .init(wrapping: connection.client)
    }

    /// The cached result of `action`, or nil if the server has none (NOT_FOUND).
    public func result(for action: Digest) async throws(CASError) -> Build_Bazel_Remote_Execution_V2_ActionResult? {
        var request = Build_Bazel_Remote_Execution_V2_GetActionResultRequest()
        request.instanceName = connection.configuration.instance
        request.actionDigest = action.proto
        do {
            return try await connection.call("GetActionResult", "action \(action)") { [stub, request] in
                try await stub.getActionResult(request)
            }
        } catch where error.code == .notFound {
            return nil
        }
    }

    /// Stores `result` as the result of `action` (UpdateActionResult); servers may refuse
    /// clients' updates (PERMISSION_DENIED, UNIMPLEMENTED), which this throws.
    public func update(_ action: Digest, to result: Build_Bazel_Remote_Execution_V2_ActionResult) async throws(CASError) {
        var request = Build_Bazel_Remote_Execution_V2_UpdateActionResultRequest()
        request.instanceName = connection.configuration.instance
        request.actionDigest = action.proto
        request.actionResult = result
        _ = try await connection.call("UpdateActionResult", "action \(action)") { [stub, request] in
            try await stub.updateActionResult(request)
        }
    }
}
