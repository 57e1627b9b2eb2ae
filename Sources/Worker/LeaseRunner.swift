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
    /// The CAS the actions' blobs are in.
    let connection: RemoteConnection
    /// Reads through the worker's local CAS (Action, Command, Directory nodes); file blobs go
    /// through a store of each action's own that counts what that action fetched, over the same
    /// process-wide single flight.
    let cached: any ContentStore
    let stats: WorkerStats
    /// Access profiles of action shapes, kept in the work directory and shared through the CAS
    /// server.
    let profiles: ProfileStore
    let exchange: ProfileExchange
    /// Where copies are staged: the actions directory, if the sandbox user can reach it.
    private let copyRoot: String
    private let copyUser = SandboxUser.nobodyIfRoot
    private let logger = Logger(label: "lazycas.worker.lease")

    init(configuration: WorkerConfiguration, store: LocalContentStore, quota: StoreQuota?, connection: RemoteConnection, stats: WorkerStats) throws {
        self.configuration = configuration
        self.store = store
        self.quota = quota
        self.connection = connection
        cached = ReadCachingContentStore(fast: store, slow: connection.store)
        self.stats = stats
        profiles = ProfileStore(cacheRoot: configuration.workDirectory)
        exchange = ProfileExchange(connection: connection)
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
        var record = ActionRecord(lease: lease, staging: configuration.staging.rawValue)
        var outcome = Outcome()
        var profiled: Profiled?
        do {
            let (result, status, profile) = try await execute(payload, record: &record)
            outcome.result = result
            if let status { outcome.status = status }
            profiled = profile
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
        if let profiled, outcome.status.isOK { await keep(profiled) }
        return outcome
    }

    /// An action ready to run: checked, its Command and every Directory node of its input root
    /// local.
    private struct Prepared {
        var digest: Digest
        var spec: ActionSpec
        var inputRoot: Digest
        var inputs: (directories: Set<Digest>, files: Set<Digest>)
        var commandDigest: Digest
        /// The action shape's access profile and where it came from, loading while the input
        /// root's Directory nodes come in (nil: no profiles, or copy staging).
        var profileKey: String
        var profile: Task<(AccessProfile?, String?), Never>?
    }

    /// An action's profile session, to keep once its result is out.
    struct Profiled: Sendable {
        var key: String
        var session: ProfileSession
    }

    /// What running an action left: its result so far, the files it wrote (lazy staging; copy
    /// staging does not tell), and for an action that timed out the DEADLINE_EXCEEDED status to
    /// send with it.
    private struct Ran {
        var result = Build_Bazel_Remote_Execution_V2_ActionResult()
        var written: Set<Digest> = []
        /// A status for the result: DEADLINE_EXCEEDED for a timeout, FAILED_PRECONDITION for an
        /// output of another kind than declared.
        var status: Google_Rpc_Status?
        /// What the action read (lazy staging with profiles).
        var profile: ProfileSession?
    }

    /// The lease's action, start to finish: prepare, run staged, upload.
    private func execute(_ payload: Google_Protobuf_Any, record: inout ActionRecord) async throws
        -> (Build_Bazel_Remote_Execution_V2_ActionResult, Google_Rpc_Status?, Profiled?) {
        var metadata = Build_Bazel_Remote_Execution_V2_ExecutedActionMetadata()
        metadata.worker = configuration.botId
        metadata.workerStartTimestamp = .init(date: Date())
        metadata.inputFetchStartTimestamp = metadata.workerStartTimestamp
        let prepared = try await prepare(payload, record: &record)
        // Nothing this action needs may be evicted while it runs (another action's results may
        // push the cache over its limit meanwhile).
        let pinned = Array(prepared.inputs.directories) + Array(prepared.inputs.files) + [prepared.commandDigest]
        quota?.pin(pinned)
        defer { quota?.unpin(pinned) }
        var ran = try await runStaged(prepared, metadata: &metadata, record: &record)
        try Task.checkCancellation()
        let uploaded = try await upload(&ran, prepared)
        record.blobsUploaded = uploaded.missing
        record.bytesUploaded = uploaded.bytesSent
        // An upper bound of what this action added to the local CAS (the quota recounts exactly
        // when it evicts).
        let directoryBytes = record.directoriesFetched > 0 ? prepared.inputs.directories.reduce(0) { $0 + $1.sizeBytes } : 0
        quota?.added(record.bytesFetched + directoryBytes + uploaded.bytesSent)
        metadata.outputUploadCompletedTimestamp = .init(date: Date())
        metadata.workerCompletedTimestamp = metadata.outputUploadCompletedTimestamp
        ran.result.executionMetadata = metadata
        return (ran.result, ran.status, ran.profile.map { Profiled(key: prepared.profileKey, session: $0) })
    }

    /// The Action and Command, checked, and the input root's Directory nodes made local (only
    /// those that are not, a level per BatchReadBlobs).
    private func prepare(_ payload: Google_Protobuf_Any, record: inout ActionRecord) async throws -> Prepared {
        let (action, actionDigest) = try await loadAction(payload)
        record.action = actionDigest.description
        let commandDigest = try Digest(action.commandDigest)
        let inputRoot = try Digest(action.inputRootDigest)
        let profileKey = AccessProfile.actionKey(command: commandDigest, platform: action.platform)
        let profile = configuration.profiles && configuration.staging == .lazy ? Task { await self.loadProfile(profileKey) } : nil
        let rootWasLocal = store.contains(inputRoot)
        try await cached.fetchAll([commandDigest, inputRoot])
        let command = try Build_Bazel_Remote_Execution_V2_Command(serializedBytes: try store.read(commandDigest))
        if let why = PlatformOffer(configuration.platform).unmet(ActionSpec.requestedPlatform(action, command)) {
            throw LeaseError(code: .failedPrecondition, "action \(actionDigest): \(why)")
        }
        let spec = try ActionSpec(action: action, command: command, name: actionDigest.description,
                                  defaultTimeout: configuration.defaultActionTimeout)
        record.directoriesFetched = try await TreeFetcher(store: store, through: cached, server: connection.cas)
            .fetchMissingLevels(inputRoot) + (rootWasLocal ? 0 : 1)
        let inputs = try LocalTree(store: store).digests(under: inputRoot)
        record.inputFiles = inputs.files.count
        record.inputBytes = inputs.files.reduce(0) { $0 + $1.sizeBytes }
        return Prepared(digest: actionDigest, spec: spec, inputRoot: inputRoot, inputs: inputs, commandDigest: commandDigest,
                        profileKey: profileKey, profile: profile)
    }

    /// Stages the input root (``WorkerConfiguration/Staging``), runs the action in the sandbox and
    /// captures its outputs and logs. File blobs come through a store of this action's own,
    /// which counts what it fetched.
    private func runStaged(_ prepared: Prepared, metadata: inout Build_Bazel_Remote_Execution_V2_ExecutedActionMetadata,
                           record: inout ActionRecord) async throws -> Ran {
        let scratch = "\(configuration.staging == .lazy ? configuration.actionsDirectory : copyRoot)/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let stdout = scratch + "/stdout", stderr = scratch + "/stderr"
        let fetched = Metrics()
        let files = ReadCachingContentStore(fast: store, slow: MetricsContentStore(base: connection.store, metrics: fetched))
        let fetchedSoFar: @Sendable () -> (blobs: Int, bytes: Int64) = {
            let s = fetched.snapshot
            return (s.blobsReceived, s.bytesReceived)
        }
        let (spec, name, workingDirectory) = (prepared.spec, prepared.digest.description, prepared.spec.command.workingDirectory)
        var ran = Ran()
        func started() {
            metadata.inputFetchCompletedTimestamp = .init(date: Date())
            metadata.executionStartTimestamp = metadata.inputFetchCompletedTimestamp
        }
        func ended(_ outcome: ProcessRunner.Outcome) {
            metadata.executionCompletedTimestamp = .init(date: Date())
            metadata.outputUploadStartTimestamp = metadata.executionCompletedTimestamp
            ran.status = spec.record(outcome, in: &ran.result, name: name)
        }
        switch configuration.staging {
        case .lazy:
            let (previous, source) = await prepared.profile?.value ?? (nil, nil)
            let session = prepared.profile == nil ? nil : ProfileSession(previous: previous, budget: configuration.prefetchBudget)
            record.profileSource = source
            ran.profile = session
            let root = try WritableLazyRoot(root: prepared.inputRoot, in: scratch + "/root", store: store, content: files, seed: [:],
                                            readAhead: configuration.readAhead, profile: session, fetched: fetchedSoFar)
            let prefetching = root.startPrefetch()
            defer { prefetching?.cancel() }
            do {
                try Self.createOutputParents(spec, in: root.overlay.merged, owner: nil)
                started()
                ended(try await spec.run(root: root.overlay.merged, user: nil, stdout: stdout, stderr: stderr))
                let after = try OverlayCapture(store: store).capture(lower: root.lower, upper: root.overlay.upper, written: &ran.written)
                set(try TreeOutputs(store: store).capture(spec.outputs, workingDirectory: workingDirectory, root: after), of: prepared, in: &ran)
            } catch {
                await root.close()
                throw error
            }
            prefetching?.cancel()
            await root.close()
            record.profile = session?.counts
        case .copy:
            try await files.fetchAll(store.missing(prepared.inputs.files))
            let root = scratch + "/root"
            _ = try InputStager(store: store, owner: copyUser).stage(prepared.inputRoot, at: root)
            try Self.createOutputParents(spec, in: root, owner: copyUser)
            started()
            ended(try await spec.run(root: root, user: copyUser, stdout: stdout, stderr: stderr))
            set(try OutputCapture(store: store).capture(spec.outputs, workingDirectory: workingDirectory, root: root,
                                                        properties: spec.outputNodeProperties), of: prepared, in: &ran)
        }
        (record.filesFetched, record.bytesFetched) = fetchedSoFar()
        ran.result.stdoutDigest = try store.importFile(at: stdout).proto
        ran.result.stderrDigest = try store.importFile(at: stderr).proto
        return ran
    }

    /// The shape's profile: this worker's, else the remote's (kept here too); nil when neither
    /// has one or the remote cannot be asked (logged: a profile is an optimisation).
    private func loadProfile(_ key: String) async -> (AccessProfile?, String?) {
        if let local = profiles.load(key) { return (local, "local") }
        do {
            guard let remote = try await exchange.fetch(key) else { return (nil, nil) }
            try? profiles.save(remote, as: key)
            return (remote, "remote")
        } catch {
            logger.info("access profile of \(key) not fetched: \(error)")
            return (nil, nil)
        }
    }

    /// Keeps what the action read as its shape's profile, here and — when the paths changed —
    /// on the remote, for other workers.
    private func keep(_ profiled: Profiled) async {
        let updated = profiled.session.updated
        guard !updated.isEmpty || profiled.session.previous != nil else { return }
        try? profiles.save(updated, as: profiled.key)
        guard updated.paths != profiled.session.previous?.paths else { return }
        do {
            try await exchange.publish(updated, as: profiled.key)
        } catch {
            logger.info("access profile of \(profiled.key) not shared: \(error)")
        }
    }

    /// ``ActionSpec/createOutputParents(in:owner:)``; a path in the way is the client's error.
    private static func createOutputParents(_ spec: ActionSpec, in root: String, owner: SandboxUser?) throws(LeaseError) {
        do {
            try spec.createOutputParents(in: root, owner: owner)
        } catch {
            throw LeaseError(code: .invalidArgument, error.description)
        }
    }

    /// Offers the server what the action produced (one FindMissingBlobs, then batches): input
    /// files it left alone are there already; what it wrote, the output Trees and Directory
    /// nodes, and the logs are offered.
    private func upload(_ ran: inout Ran, _ prepared: Prepared) async throws -> UploadSummary {
        let unchanged = prepared.inputs.files.subtracting(ran.written)
        let produced = Set(ran.result.referencedBlobs(in: store)).subtracting(unchanged)
        return try await connection.store.upload(Dictionary(uniqueKeysWithValues: produced.map { ($0, store.source($0)) }))
    }

    private func set(_ outputs: OutputCapture.Outputs, of prepared: Prepared, in ran: inout Ran) {
        var outputs = outputs
        if let mismatch = prepared.spec.conform(&outputs), ran.status == nil {
            ran.status = Google_Rpc_Status(.failedPrecondition, "action \(prepared.digest): \(mismatch)")
        }
        outputs.fill(&ran.result)
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
        return (try Build_Bazel_Remote_Execution_V2_Action(serializedBytes: try await cached.data(digest)), digest)
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
