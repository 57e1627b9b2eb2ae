import Foundation
import GRPCCore
import LocalCAS
import REAPI
import SwiftProtobuf

/// Execution: Execute streams the operation (QUEUED, EXECUTING, then done with an
/// `ExecuteResponse`); WaitExecution follows an operation by name. The action runs in a task
/// of its own, so a client that disconnects can reattach, and the result still gets cached.
struct ExecutionService: Build_Bazel_Remote_Execution_V2_Execution.SimpleServiceProtocol {
    let executor: ActionExecutor
    let operations = OperationStore()

    func execute(request: Build_Bazel_Remote_Execution_V2_ExecuteRequest, response: RPCWriter<Google_Longrunning_Operation>, context: ServerContext) async throws {
        let actionDigest = try Digest.fromRequest(request.actionDigest, field: "action_digest")
        let name = "operations/\(UUID().uuidString)"
        operations.create(try Self.operation(name, actionDigest, stage: .cacheCheck))
        let follow = operations.follow(name)!
        let operations = self.operations, executor = self.executor
        Task {
            let result = await executor.execute(request) { stage in
                if let op = try? Self.operation(name, actionDigest, stage: stage) { operations.update(op) }
            }
            var done = (try? Self.operation(name, actionDigest, stage: .completed)) ?? Google_Longrunning_Operation()
            done.name = name
            done.done = true
            done.response = (try? Google_Protobuf_Any(message: result)) ?? Google_Protobuf_Any()
            operations.update(done)
        }
        for await state in follow { try await response.write(state) }
    }

    func waitExecution(request: Build_Bazel_Remote_Execution_V2_WaitExecutionRequest, response: RPCWriter<Google_Longrunning_Operation>, context: ServerContext) async throws {
        guard let follow = operations.follow(request.name) else {
            throw RPCError(code: .notFound, message: "no operation \(request.name) (unknown, or finished long ago)")
        }
        for await state in follow { try await response.write(state) }
    }

    static func operation(_ name: String, _ action: Digest, stage: Build_Bazel_Remote_Execution_V2_ExecutionStage.Value) throws -> Google_Longrunning_Operation {
        var metadata = Build_Bazel_Remote_Execution_V2_ExecuteOperationMetadata()
        metadata.stage = stage
        metadata.actionDigest = action.proto
        var operation = Google_Longrunning_Operation()
        operation.name = name
        operation.metadata = try Google_Protobuf_Any(message: metadata)
        return operation
    }
}
