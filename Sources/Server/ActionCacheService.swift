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
        guard var result = storage.cachedResult(for: action) else {
            throw RPCError(code: .notFound, message: "no result for action \(action)")
        }
        inline(into: &result, request)
        return result
    }

    /// Most bytes inlined into one response: the rest stay digests (REAPI lets a server omit
    /// inlining, and requires it where the response would grow too large).
    static let inlineLimit: Int64 = 1 << 20

    /// Puts the bytes of stdout, stderr and the named output files into `result`, as far as
    /// ``inlineLimit`` allows, when the request asks.
    private func inline(into result: inout Build_Bazel_Remote_Execution_V2_ActionResult,
                        _ request: Build_Bazel_Remote_Execution_V2_GetActionResultRequest) {
        var budget = Self.inlineLimit
        func bytes(_ proto: Build_Bazel_Remote_Execution_V2_Digest) -> Data? {
            guard let digest = try? Digest(proto), digest.sizeBytes <= budget,
                  let data = try? storage.cas.read(digest) else { return nil }
            budget -= digest.sizeBytes
            return data
        }
        if request.inlineStdout, result.hasStdoutDigest, let data = bytes(result.stdoutDigest) { result.stdoutRaw = data }
        if request.inlineStderr, result.hasStderrDigest, let data = bytes(result.stderrDigest) { result.stderrRaw = data }
        let wanted = Set(request.inlineOutputFiles)
        for i in result.outputFiles.indices where wanted.contains(result.outputFiles[i].path) {
            if let data = bytes(result.outputFiles[i].digest) { result.outputFiles[i].contents = data }
        }
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
