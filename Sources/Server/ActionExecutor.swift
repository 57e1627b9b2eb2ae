import Foundation
import Glibc
import GRPCCore
import GRPCProtobuf
import LocalCAS
import Logging
import REAPI
import Sandbox
import SwiftProtobuf

/// How `lazycas serve` runs actions.
public struct ExecutionConfiguration: Sendable {
    /// Actions running at once (`--jobs`); more wait in a queue.
    public var jobs: Int
    /// Where input roots are staged, one directory per action, removed afterwards.
    public var workRoot: String
    /// For actions that set no timeout.
    public var defaultTimeout: Duration = .seconds(3600)

    public init(jobs: Int, workRoot: String) {
        self.jobs = jobs
        self.workRoot = workRoot
    }
}

/// Runs REAPI actions locally: checks that every input is in the CAS, answers from the
/// ActionCache when it can, else stages the input root, runs the command in bubblewrap, and
/// captures the outputs into the CAS and a successful result into the ActionCache.
final class ActionExecutor: Sendable {
    let storage: ServerStorage
    let configuration: ExecutionConfiguration
    /// Where jobs are staged: the configured work root if the sandbox user can reach it.
    private let workRoot: String
    private let user = SandboxUser.nobodyIfRoot
    private let slots: JobSlots
    private let logger = Logger(label: "lazycas.serve.execute")

    init(storage: ServerStorage, configuration: ExecutionConfiguration) throws {
        self.storage = storage
        self.configuration = configuration
        workRoot = try SandboxWorkspace.choose(preferred: configuration.workRoot, user: user)
        slots = JobSlots(limit: configuration.jobs)
    }

    deinit {
        // A fallback staging directory under /tmp is ours alone; jobs have emptied it.
        if workRoot != configuration.workRoot { rmdir(workRoot) }
    }

    /// Executes one action. `stage` is told when the action is queued and when it starts.
    /// Never throws: every failure is a status in the response, as REAPI wants.
    func execute(_ request: Build_Bazel_Remote_Execution_V2_ExecuteRequest,
                 stage: @Sendable (Build_Bazel_Remote_Execution_V2_ExecutionStage.Value) async -> Void) async -> Build_Bazel_Remote_Execution_V2_ExecuteResponse {
        do {
            return try await run(request, stage: stage)
        } catch let status as GoogleRPCStatus {
            return Self.response(status)
        } catch let error as RPCError {
            return Self.response(GoogleRPCStatus(code: error.code, message: error.message, details: []))
        } catch {
            return Self.response(GoogleRPCStatus(code: .internalError, message: "\(error)", details: []))
        }
    }

    private func run(_ request: Build_Bazel_Remote_Execution_V2_ExecuteRequest,
                     stage: @Sendable (Build_Bazel_Remote_Execution_V2_ExecutionStage.Value) async -> Void) async throws -> Build_Bazel_Remote_Execution_V2_ExecuteResponse {
        let actionDigest = try Digest.fromRequest(request.actionDigest, field: "action_digest")
        let action: Build_Bazel_Remote_Execution_V2_Action = try load(actionDigest, what: "Action")
        if !request.skipCacheLookup, !action.doNotCache, let cached = storage.cachedResult(for: actionDigest) {
            var response = Build_Bazel_Remote_Execution_V2_ExecuteResponse()
            response.result = cached
            response.cachedResult = true
            return response
        }
        let commandDigest = try Digest.fromRequest(action.commandDigest, field: "Action.command_digest")
        let command: Build_Bazel_Remote_Execution_V2_Command = try load(commandDigest, what: "Command")
        let inputRoot = try Digest.fromRequest(action.inputRootDigest, field: "Action.input_root_digest")
        if let why = PlatformOffer.host.unmet(ActionSpec.requestedPlatform(action, command)) {
            throw RPCError(code: .failedPrecondition, message: "action \(actionDigest): \(why)")
        }
        // The inputs stay in the CAS (no eviction) until the action is done with them: each is
        // pinned before it is checked, so an eviction pass cannot slip in between.
        let pinned = try checkInputs(inputRoot) + [actionDigest, commandDigest]
        storage.quota?.pin([actionDigest, commandDigest])
        defer { storage.quota?.unpin(pinned) }
        let spec: ActionSpec
        do {
            spec = try ActionSpec(action: action, command: command, name: actionDigest.description,
                                  defaultTimeout: configuration.defaultTimeout)
        } catch {
            throw RPCError(code: .invalidArgument, message: error.description)
        }
        await stage(.queued)
        let queued = Date()
        return try await slots.run { () async -> Result<Build_Bazel_Remote_Execution_V2_ExecuteResponse, any Error> in
            await stage(.executing)
            do {
                return .success(try await runStaged(actionDigest, action: action, spec: spec, inputRoot: inputRoot, queued: queued))
            } catch {
                return .failure(error)
            }
        }.get()
    }

    private func runStaged(_ actionDigest: Digest, action: Build_Bazel_Remote_Execution_V2_Action, spec: ActionSpec,
                           inputRoot: Digest, queued: Date) async throws -> Build_Bazel_Remote_Execution_V2_ExecuteResponse {
        let job = "\(workRoot)/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: job, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: job) }
        var metadata = Build_Bazel_Remote_Execution_V2_ExecutedActionMetadata()
        metadata.worker = "lazycas@\(ProcessInfo.processInfo.hostName)"
        metadata.queuedTimestamp = Google_Protobuf_Timestamp(date: queued)
        metadata.workerStartTimestamp = Google_Protobuf_Timestamp(date: Date())
        let root = job + "/root"
        metadata.inputFetchStartTimestamp = Google_Protobuf_Timestamp(date: Date())
        _ = try InputStager(store: storage.cas, owner: user).stage(inputRoot, at: root)
        do {
            try spec.createOutputParents(in: root, owner: user)
        } catch {
            throw RPCError(code: .invalidArgument, message: "action \(actionDigest): \(error.description)")
        }
        metadata.inputFetchCompletedTimestamp = Google_Protobuf_Timestamp(date: Date())
        metadata.executionStartTimestamp = Google_Protobuf_Timestamp(date: Date())
        let outcome = try await spec.run(root: root, user: user, stdout: job + "/stdout", stderr: job + "/stderr")
        metadata.executionCompletedTimestamp = Google_Protobuf_Timestamp(date: Date())
        metadata.outputUploadStartTimestamp = Google_Protobuf_Timestamp(date: Date())
        var result = Build_Bazel_Remote_Execution_V2_ActionResult()
        var captured = try OutputCapture(store: storage.cas).capture(spec.outputs, workingDirectory: spec.command.workingDirectory, root: root,
                                                                     properties: spec.outputNodeProperties)
        let mismatch = spec.conform(&captured)
        captured.fill(&result)
        result.stdoutDigest = try storage.cas.importFile(at: job + "/stdout").proto
        result.stderrDigest = try storage.cas.importFile(at: job + "/stderr").proto
        metadata.outputUploadCompletedTimestamp = Google_Protobuf_Timestamp(date: Date())
        metadata.workerCompletedTimestamp = Google_Protobuf_Timestamp(date: Date())
        result.executionMetadata = metadata
        var response = Build_Bazel_Remote_Execution_V2_ExecuteResponse()
        if let status = spec.record(outcome, in: &result, name: actionDigest.description) { response.status = status }
        if let mismatch, response.status.isOK {
            response.status = Google_Rpc_Status(.failedPrecondition, "action \(actionDigest): \(mismatch)")
        }
        response.result = result
        // The client is about to fetch what the action produced: keep it from eviction.
        let produced = storage.referencedBlobs(of: result)
        storage.quota?.protect(produced, for: ServerStorage.freshResult)
        storage.stored(produced.reduce(0) { $0 + $1.sizeBytes })
        if case .exited(0) = outcome, !action.doNotCache, response.status.isOK {
            try storage.storeResult(result, for: actionDigest)
        }
        logger.info("action \(actionDigest): \(outcome)")
        return response
    }

    /// Reads and parses a message stored in the CAS.
    /// - Throws: FAILED_PRECONDITION (missing) or INVALID_ARGUMENT (not a `what`).
    private func load<M: SwiftProtobuf.Message>(_ digest: Digest, what: String) throws -> M {
        guard storage.cas.contains(digest) else { throw Self.missing([digest]) }
        do {
            return try M(serializedBytes: try storage.cas.read(digest))
        } catch {
            throw RPCError(code: .invalidArgument, message: "blob \(digest) is not a valid \(what): \(error)")
        }
    }

    /// Every Directory and file blob of the input root must be present. Each is pinned against
    /// eviction before it is checked.
    /// - Returns: all of them, pinned (the caller unpins); on error nothing stays pinned.
    private func checkInputs(_ root: Digest) throws -> [Digest] {
        let (storage, tree) = (self.storage, LocalTree(store: storage.cas))
        var missing: [Digest] = []
        var all: [Digest] = []
        var succeeded = false
        defer { if !succeeded { storage.quota?.unpin(all) } }
        let walk = TreeWalk(root: root) { digest throws(CASError) in
            storage.quota?.pin([digest])
            all.append(digest)
            guard storage.cas.contains(digest) else { return nil }
            do {
                return try tree.directory(digest)
            } catch {
                throw CASError(.invalidArgument, "input Directory \(digest) is invalid", cause: error)
            }
        }
        do {
            try walk.forEachNode({ _, directory in
                let files = directory.files.map(\.digest)
                storage.quota?.pin(files)
                all += files
                missing += storage.cas.missing(files)
            }, absent: { missing.append($0) })
        } catch let error as CASError {
            throw RPCError(code: .invalidArgument, message: error.description)
        }
        if !missing.isEmpty { throw Self.missing(missing) }
        succeeded = true
        return all
    }

    /// FAILED_PRECONDITION with one MISSING violation per blob, as REAPI specifies.
    static func missing(_ digests: [Digest]) -> GoogleRPCStatus {
        let violations = Set(digests).sorted().map {
            ErrorDetails.PreconditionFailure.Violation(type: "MISSING", subject: "blobs/\($0.hash)/\($0.sizeBytes)",
                                                       description: "blob \($0) is not in the CAS")
        }
        return GoogleRPCStatus(code: .failedPrecondition,
                               message: "\(violations.count) input blob(s) missing, e.g. \(violations[0].subject)",
                               details: [.preconditionFailure(violations: violations)])
    }

    static func response(_ status: GoogleRPCStatus) -> Build_Bazel_Remote_Execution_V2_ExecuteResponse {
        var response = Build_Bazel_Remote_Execution_V2_ExecuteResponse()
        if let bytes: Data = try? status.serializedBytes(), let decoded = try? Google_Rpc_Status(serializedBytes: bytes) {
            response.status = decoded
        } else {
            response.status.code = Int32(status.code.rawValue)
            response.status.message = status.message
        }
        return response
    }
}
