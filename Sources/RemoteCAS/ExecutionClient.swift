import FoundationEssentials
import GRPCCore
import LocalCAS
import REAPI
import SwiftProtobuf
import Synchronization

/// The REAPI Execution service of one server: run an action and follow its operation to the end.
///
/// If the `Execute` stream breaks after the server named the operation, the client reattaches
/// with `WaitExecution` by that name rather than submitting the action again. The action is
/// submitted again only when no name was received yet, or when the server no longer knows the
/// operation (it restarted); REAPI allows that, since a result depends on the action's digest
/// alone and servers merge identical executions.
public struct ExecutionClient: Sendable {
    /// The server it talks to.
    public let connection: RemoteConnection
    let stub: Build_Bazel_Remote_Execution_V2_Execution.Client<GRPCContentStore.Transport>

    /// Times a broken stream is resumed before the execution is given up.
    public static let maxReattachments = 5

    public init(connection: RemoteConnection) {
        self.connection = connection
        stub = .init(wrapping: connection.client)
    }

    /// Executes `action` and returns the server's `ExecuteResponse` (whose `status` and
    /// `result.exit_code` the caller inspects).
    /// - Parameters:
    ///   - timeout: how long the whole execution may take, queueing included.
    ///   - onStage: told each stage the server reports (QUEUED, EXECUTING…).
    /// - Throws: `.remote` when the server cannot be reached or refuses the request,
    ///   `.invalidArgument` for a request it calls malformed.
    public func execute(_ action: Digest, skipCacheLookup: Bool = false, timeout: Duration,
                        onStage: @escaping @Sendable (Build_Bazel_Remote_Execution_V2_ExecutionStage.Value) -> Void = { _ in }
    ) async throws(CASError) -> Build_Bazel_Remote_Execution_V2_ExecuteResponse {
        var request = Build_Bazel_Remote_Execution_V2_ExecuteRequest()
        request.instanceName = connection.configuration.instance
        request.actionDigest = action.proto
        request.skipCacheLookup = skipCacheLookup
        let deadline = ContinuousClock.now + timeout
        let operationName = Mutex<String?>(nil)
        // Set when a message arrives: a stream that made progress before breaking starts the
        // count of breaks afresh (a long action behind a proxy that cuts streams is fine).
        let progressed = Mutex(false)
        let policy = connection.configuration.retryPolicy()
        var attempt = 0
        var backoff = RetryPolicy.Backoff(policy)
        let endpoint = connection.configuration.endpoint
        while true {
            let name = operationName.withLock { $0 }
            let method = name == nil ? "Execute" : "WaitExecution"
            var options = CallOptions.defaults
            options.timeout = ContinuousClock.now.duration(to: deadline)
            do {
                let follow: @Sendable (StreamingClientResponse<Google_Longrunning_Operation>) async throws -> Google_Longrunning_Operation? = { response in
                    for try await operation in response.messages {
                        progressed.withLock { $0 = true }
                        if !operation.name.isEmpty { operationName.withLock { $0 = operation.name } }
                        if operation.hasMetadata,
                           let metadata = try? Build_Bazel_Remote_Execution_V2_ExecuteOperationMetadata(unpackingAny: operation.metadata) {
                            onStage(metadata.stage)
                        }
                        if operation.done { return operation }
                    }
                    return nil
                }
                let done: Google_Longrunning_Operation?
                done = try await connection.metrics.counting(method) {
                    if let name {
                        var wait = Build_Bazel_Remote_Execution_V2_WaitExecutionRequest()
                        wait.name = name
                        return try await stub.waitExecution(request: ClientRequest(message: wait), options: options, onResponse: follow)
                    }
                    return try await stub.execute(request: ClientRequest(message: request), options: options, onResponse: follow)
                }
                if let done { return try Self.response(of: done, action: action, endpoint: endpoint) }
                // The stream ended without a finished operation: reattach below.
            } catch let error as CASError {
                throw error
            } catch let error as RPCError {
                if error.code == .notFound, name != nil {
                    // The server forgot the operation (a restart): the action itself is still valid.
                    operationName.withLock { $0 = nil }
                } else if !RetryPolicy.isRetryable(error) {
                    throw RPCAttempt.failure(method, error, "action \(action)", endpoint: endpoint)
                }
            } catch {
                throw RPCAttempt.failure(method, error, "action \(action)", endpoint: endpoint)
            }
            if progressed.withLock({ p in defer { p = false }; return p }) {
                attempt = 0
                backoff.reset(policy)
            }
            attempt += 1
            guard attempt <= Self.maxReattachments, !Task.isCancelled, ContinuousClock.now < deadline else {
                throw CASError(.remote, "\(method) on \(endpoint) (action \(action)): the operation stream broke \(attempt) times")
            }
            try? await Task.sleep(for: backoff.next())
        }
    }

    /// The `ExecuteResponse` a finished operation carries.
    static func response(of operation: Google_Longrunning_Operation, action: Digest,
                         endpoint: RemoteEndpoint) throws(CASError) -> Build_Bazel_Remote_Execution_V2_ExecuteResponse {
        switch operation.result {
        case .error(let status)?:
            throw CASError(.remote, "Execute on \(endpoint) (action \(action)) failed: code \(status.code): \(status.message)")
        case .response(let any)?:
            do {
                return try Build_Bazel_Remote_Execution_V2_ExecuteResponse(unpackingAny: any)
            } catch {
                throw CASError(.corrupt, "Execute on \(endpoint) (action \(action)) returned something that is not an ExecuteResponse", cause: error)
            }
        case nil:
            throw CASError(.corrupt, "Execute on \(endpoint) (action \(action)) finished with neither a response nor an error")
        }
    }
}
