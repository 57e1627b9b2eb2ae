import Foundation
import Glibc
import LocalCAS
import Logging
import Mount
import RemoteCAS
import REAPI
import Sandbox
import SwiftProtobuf

/// Runs the action of one lease, start to finish: the Action and Command (from the lease or the
/// CAS), the input root's Directory nodes (only those not already local, a level per
/// BatchReadBlobs), staging (``WorkerConfiguration/Staging``), the sandbox ``ActionSpec`` runs
/// for `lazycas serve` too, output capture, and the upload of what the action produced (one
/// FindMissingBlobs, then batches). Never throws: what went wrong is the lease's status.
final class LeaseRunner: Sendable {
    let configuration: WorkerConfiguration
    let store: LocalContentStore
    let quota: StoreQuota?
    let cas: CASClient
    let fetcher: BlobFetcher
    let stats: WorkerStats
    /// Where copies are staged: the actions directory, if the sandbox user can reach it.
    private let copyRoot: String
    private let copyUser = SandboxUser.nobodyIfRoot
    private let logger = Logger(label: "lazycas.worker.lease")

    init(configuration: WorkerConfiguration, store: LocalContentStore, quota: StoreQuota?, cas: CASClient, stats: WorkerStats) throws {
        self.configuration = configuration
        self.store = store
        self.quota = quota
        self.cas = cas
        fetcher = BlobFetcher(client: cas, store: store)
        self.stats = stats
        copyRoot = try SandboxWorkspace.choose(preferred: configuration.actionsDirectory, user: copyUser)
    }

    /// What a lease comes back with.
    struct Outcome: Sendable {
        var status = Google_Rpc_Status()
        var result: Build_Bazel_Remote_Execution_V2_ActionResult?
    }

    /// Runs the lease's payload (an `Action`, or the `Digest` of one). Cancelling the calling
    /// task kills the action; the outcome is then UNAVAILABLE, which schedulers retry.
    func run(lease: String, payload: Google_Protobuf_Any) async -> Outcome {
        let started = ContinuousClock.now
        var record = ActionRecord(lease: lease, action: "?", staging: configuration.staging.rawValue, exitCode: 0, status: 0,
                                  inputFiles: 0, inputBytes: 0, directoriesFetched: 0, filesFetched: 0, bytesFetched: 0,
                                  blobsUploaded: 0, bytesUploaded: 0, seconds: 0)
        var outcome = Outcome()
        do {
            let (result, status) = try await execute(payload, record: &record)
            outcome.result = result
            if let status { outcome.status = status }
        } catch {
            outcome.status = Self.status(for: error, cancelled: Task.isCancelled)
            outcome.result = nil
        }
        if Task.isCancelled {
            outcome.status = Self.status(for: CancellationError(), cancelled: true)
            outcome.result = nil
        }
        record.status = outcome.status.code
        record.exitCode = outcome.result?.exitCode ?? record.exitCode
        record.seconds = (ContinuousClock.now - started) / .seconds(1)
        let final = record
        stats.update { $0.actions.append(final) }
        logger.info("\(final.summary)\(!outcome.status.isOK ? ": \(outcome.status.message)" : "")")
        return outcome
    }

    /// The result, and for an action that timed out the DEADLINE_EXCEEDED status to send with it.
    private func execute(_ payload: Google_Protobuf_Any, record: inout ActionRecord) async throws
        -> (Build_Bazel_Remote_Execution_V2_ActionResult, Google_Rpc_Status?) {
        var metadata = Build_Bazel_Remote_Execution_V2_ExecutedActionMetadata()
        metadata.worker = configuration.botId
        metadata.workerStartTimestamp = Google_Protobuf_Timestamp(date: Date())
        metadata.inputFetchStartTimestamp = metadata.workerStartTimestamp
        let (action, actionDigest) = try await loadAction(payload)
        record.action = actionDigest.description
        let commandDigest = try Digest(action.commandDigest)
        let inputRoot = try Digest(action.inputRootDigest)
        let rootWasLocal = store.contains(inputRoot)
        try await fetcher.fetch([commandDigest, inputRoot])
        let command = try Build_Bazel_Remote_Execution_V2_Command(serializedBytes: try store.read(commandDigest))
        let spec = try ActionSpec(action: action, command: command, name: actionDigest.description,
                                  defaultTimeout: configuration.defaultActionTimeout)
        record.directoriesFetched = try await TreeFetcher(fetcher: fetcher).fetchMissingLevels(inputRoot) + (rootWasLocal ? 0 : 1)
        let inputs = try LocalTree(store: store).digests(under: inputRoot)
        record.inputFiles = inputs.files.count
        record.inputBytes = inputs.files.reduce(0) { $0 + $1.sizeBytes }
        // Nothing this action needs may be evicted while it runs (another action's results may
        // push the cache over its limit meanwhile).
        let pinned = Array(inputs.directories) + Array(inputs.files) + [commandDigest]
        quota?.pin(pinned)
        defer { quota?.unpin(pinned) }

        let scratch = "\(configuration.staging == .lazy ? configuration.actionsDirectory : copyRoot)/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let stdout = scratch + "/stdout", stderr = scratch + "/stderr"
        // File blobs come through a fetcher of this action's own, which counts what it fetched.
        let files = BlobFetcher(client: cas, store: store)
        var result = Build_Bazel_Remote_Execution_V2_ActionResult()
        var written: Set<Digest>?
        var timeoutStatus: Google_Rpc_Status?
        switch configuration.staging {
        case .lazy:
            let root = try WritableLazyRoot(root: inputRoot, in: scratch + "/root", store: store, fetcher: files, seed: [:],
                                            readAhead: configuration.readAhead)
            do {
                metadata.inputFetchCompletedTimestamp = Google_Protobuf_Timestamp(date: Date())
                metadata.executionStartTimestamp = metadata.inputFetchCompletedTimestamp
                let outcome = try await spec.run(root: root.overlay.merged, user: nil, stdout: stdout, stderr: stderr)
                metadata.executionCompletedTimestamp = Google_Protobuf_Timestamp(date: Date())
                metadata.outputUploadStartTimestamp = metadata.executionCompletedTimestamp
                timeoutStatus = spec.record(outcome, in: &result, name: actionDigest.description)
                var changed: Set<Digest> = []
                let after = try OverlayCapture(store: store).capture(lower: root.lower, upper: root.overlay.upper, written: &changed)
                written = changed
                set(try TreeOutputs(store: store).capture(spec.outputs, workingDirectory: command.workingDirectory, root: after), in: &result)
            } catch {
                await root.close()
                throw error
            }
            await root.close()
        case .copy:
            try await files.fetch(store.missing(inputs.files))
            let root = scratch + "/root"
            _ = try InputStager(store: store, owner: copyUser).stage(inputRoot, at: root)
            metadata.inputFetchCompletedTimestamp = Google_Protobuf_Timestamp(date: Date())
            metadata.executionStartTimestamp = metadata.inputFetchCompletedTimestamp
            let outcome = try await spec.run(root: root, user: copyUser, stdout: stdout, stderr: stderr)
            metadata.executionCompletedTimestamp = Google_Protobuf_Timestamp(date: Date())
            metadata.outputUploadStartTimestamp = metadata.executionCompletedTimestamp
            timeoutStatus = spec.record(outcome, in: &result, name: actionDigest.description)
            set(try OutputCapture(store: store).capture(spec.outputs, workingDirectory: command.workingDirectory, root: root), in: &result)
        }
        (record.filesFetched, record.bytesFetched) = files.transferred
        result.stdoutDigest = try store.importFile(at: stdout).proto
        result.stderrDigest = try store.importFile(at: stderr).proto
        try Task.checkCancellation()

        // Input files the action left alone are on the server already; only what it wrote, the
        // output Trees and Directory nodes, and the logs are offered.
        let unchanged = inputs.files.subtracting(written ?? [])
        let produced = Set(result.referencedBlobs(in: store)).subtracting(unchanged)
        let uploaded = try await Uploader(client: cas, store: store).upload(Dictionary(uniqueKeysWithValues: produced.map { ($0, BlobSource.localCAS) }))
        record.blobsUploaded = uploaded.missing
        record.bytesUploaded = uploaded.bytesSent
        // An upper bound of what this action added to the local CAS (the quota recounts exactly
        // when it evicts).
        let directoryBytes = record.directoriesFetched > 0 ? inputs.directories.reduce(0) { $0 + $1.sizeBytes } : 0
        quota?.added(record.bytesFetched + directoryBytes + uploaded.bytesSent)
        metadata.outputUploadCompletedTimestamp = Google_Protobuf_Timestamp(date: Date())
        metadata.workerCompletedTimestamp = metadata.outputUploadCompletedTimestamp
        result.executionMetadata = metadata
        return (result, timeoutStatus)
    }

    private func set(_ outputs: OutputCapture.Outputs, in result: inout Build_Bazel_Remote_Execution_V2_ActionResult) {
        result.outputFiles = outputs.files
        result.outputDirectories = outputs.directories
        result.outputSymlinks = outputs.symlinks
    }

    /// The lease's Action, inline or fetched by digest, and its digest.
    private func loadAction(_ payload: Google_Protobuf_Any) async throws -> (Build_Bazel_Remote_Execution_V2_Action, Digest) {
        if payload.isA(Build_Bazel_Remote_Execution_V2_Action.self) {
            let action = try Build_Bazel_Remote_Execution_V2_Action(unpackingAny: payload)
            return (action, Digest(data: try action.serializedBytes() as Data))
        }
        guard payload.isA(Build_Bazel_Remote_Execution_V2_Digest.self) else {
            throw LeaseError(code: .invalidArgument, "the lease's payload is a \(payload.typeURL), not an Action or its Digest")
        }
        let digest = try Digest(try Build_Bazel_Remote_Execution_V2_Digest(unpackingAny: payload))
        try await fetcher.fetch(digest)
        return (try Build_Bazel_Remote_Execution_V2_Action(serializedBytes: try store.read(digest)), digest)
    }

    /// The lease status for a failure: missing inputs are FAILED_PRECONDITION (the client
    /// uploads and retries), bad input INVALID_ARGUMENT, an unreachable CAS or an abandoned
    /// action UNAVAILABLE and anything else INTERNAL (both of which the scheduler re-queues).
    static func status(for error: any Error, cancelled: Bool) -> Google_Rpc_Status {
        if cancelled {
            return Google_Rpc_Status(.unavailable, "the worker abandoned the action (cancelled or shutting down)")
        }
        switch error {
        case let error as LeaseError:
            return Google_Rpc_Status(error.code, error.message)
        case let error as CASError:
            let code: Google_Rpc_Code = switch error.code {
            case .notFound: .failedPrecondition
            case .invalidArgument, .corrupt: .invalidArgument
            case .remote: .unavailable
            case .io: .`internal`
            }
            return Google_Rpc_Status(code, error.description)
        case let error as SandboxError:
            return Google_Rpc_Status(.invalidArgument, error.description)
        case is SwiftProtobuf.BinaryDecodingError:
            return Google_Rpc_Status(.invalidArgument, "a blob of the action is not the message it should be: \(error)")
        default:
            return Google_Rpc_Status(.`internal`, "\(error)")
        }
    }
}

/// A lease that cannot run, with the google.rpc code to report.
struct LeaseError: Error {
    let code: Google_Rpc_Code
    let message: String
    init(code: Google_Rpc_Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ActionRecord {
    /// `action 1a2b…/142: exit 0 in 1.3 s, input root 2,000 files 7.8 MiB, fetched 1 file 12 B and 3 Directory nodes (lazy)`.
    var summary: String {
        "action \(action): exit \(exitCode) in \(String(format: "%.2f", seconds)) s; input root \(inputFiles) files \(formatBytes(inputBytes)), fetched \(filesFetched) files \(formatBytes(bytesFetched)) and \(directoriesFetched) Directory nodes (\(staging)); uploaded \(blobsUploaded) blobs \(formatBytes(bytesUploaded))"
    }

}
