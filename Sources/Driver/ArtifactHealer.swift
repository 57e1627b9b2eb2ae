import Foundation
import LocalCAS
import Logging
import REAPI
import RemoteCAS
import SwiftProtobuf

/// Re-creates blobs of artifacts built here that the remote CAS has lost (evicted), so that a
/// mount, shell, checkout, `cas cat` or later build reading them waits instead of failing.
///
/// A lost blob is looked up among the recorded artifacts (the tree being read first, by the
/// root index); then, by what made that artifact:
/// - a remote action (`manual`): its inputs are made sure of on the CAS (uploaded from the
///   local cache, or healed the same way, recursively), the action runs again on the execution
///   remote it ran on with `skip_cache_lookup`, and its output tree must have the recorded
///   digest — then every output blob is back. A different tree means the build is not
///   reproducible: the read fails, naming the artifact.
/// - nothing remote (`import`, `stack`): its blobs are uploaded from the local cache, and what
///   the local cache lacks is imported again from the element's sources first.
///
/// One artifact is healed at a time however many of its blobs are asked for; an outcome is
/// remembered for ``settle`` so that readers arriving just after it do not start it again.
public actor ArtifactHealer: BlobHealer {
    let store: LocalContentStore
    let artifacts: ArtifactStore
    /// The CAS reads come from: inputs are uploaded to it and outputs are checked on it.
    let cas: RemoteConnection
    /// The tree being read, whose artifact is the first suspect.
    let preferredRoot: Digest?
    /// Opens a connection to another execution remote (URL, instance), with the command's TLS
    /// and credentials.
    let connect: @Sendable (_ url: String, _ instance: String) throws(CASError) -> RemoteConnection
    /// How long a re-run may take when its Action sets no timeout.
    let defaultTimeout: Duration
    /// How long a heal's outcome stands for later requests.
    static let settle: Duration = .seconds(60)

    private var running: [String: Task<Void, any Error>] = [:]
    private var outcomes: [String: (at: ContinuousClock.Instant, failure: CASError?)] = [:]
    private var contents: [String: Set<Digest>] = [:]
    private var opened: [String: RemoteConnection] = [:]
    private let logger = Logger(label: "lazycas.heal")

    public init(store: LocalContentStore, cas: RemoteConnection, preferring root: Digest? = nil,
                defaultTimeout: Duration = .seconds(3600),
                connect: @escaping @Sendable (_ url: String, _ instance: String) throws(CASError) -> RemoteConnection) throws(CASError) {
        self.store = store
        artifacts = try ArtifactStore(store: store)
        self.cas = cas
        preferredRoot = root
        self.defaultTimeout = defaultTimeout
        self.connect = connect
    }

    public func heal(_ digest: Digest, lost: CASError) async throws(CASError) {
        try await heal(digest, excluding: [])
    }

    /// Closes the connections opened to other execution remotes.
    public func close() async {
        for connection in opened.values { await connection.close() }
        opened = [:]
    }

    private var endpoint: String { cas.configuration.endpoint.description }

    /// Heals `digest` through an artifact not in `chain` (the artifacts being healed that need
    /// it, which cannot be its source).
    private func heal(_ digest: Digest, excluding chain: Set<String>) async throws(CASError) {
        if store.contains(digest) {
            try await cas.store.put([digest: store.source(digest)])
            logger.warning("blob \(digest) was missing on \(endpoint): uploaded it from the local cache")
            return
        }
        guard let artifact = owner(of: digest, excluding: chain) else {
            throw CASError(.notFound, "blob \(digest) is missing on \(endpoint), and no artifact built here holds it: nothing can re-create it")
        }
        try await restore(artifact, lost: digest, chain: chain.union([artifact.refName]))
    }

    /// The recorded artifact whose tree holds `digest`: the one being read first, then those
    /// made by an action (which can re-create any of their blobs), newest first.
    private func owner(of digest: Digest, excluding chain: Set<String>) -> Artifact? {
        var candidates = artifacts.all().filter { !chain.contains($0.refName) }
        candidates = candidates.filter { $0.action != nil } + candidates.filter { $0.action == nil }
        if let preferredRoot, let preferred = artifacts.artifact(root: preferredRoot), !chain.contains(preferred.refName) {
            candidates.insert(preferred, at: 0)
        }
        return candidates.first { holds($0, digest) }
    }

    private func holds(_ artifact: Artifact, _ digest: Digest) -> Bool {
        if let known = contents[artifact.refName] { return known.contains(digest) }
        guard let tree = try? LocalTree(store: store).digests(under: artifact.root) else { return false }
        let all = tree.files.union(tree.directories).union([artifact.root])
        contents[artifact.refName] = all
        return all.contains(digest)
    }

    /// Heals `artifact` once: later callers join the heal under way, or get its outcome while
    /// it is fresh.
    private func restore(_ artifact: Artifact, lost digest: Digest, chain: Set<String>) async throws(CASError) {
        let ref = artifact.refName
        if let outcome = outcomes[ref], ContinuousClock.now - outcome.at < Self.settle {
            if let failure = outcome.failure { throw failure }
            return
        }
        let task: Task<Void, any Error>
        if let joined = running[ref] {
            task = joined
        } else {
            let how = artifact.action.map { "re-running its action \($0.short) with skip_cache_lookup" }
                ?? "uploading \(ref) again from the local cache and its sources"
            logger.warning("blob \(digest) of \(ref) is missing on \(endpoint) (evicted?): \(how); reads of it wait")
            task = Task { try await self.rebuild(artifact, chain: chain) }
            running[ref] = task
        }
        var failure: CASError?
        do {
            try await task.value
        } catch let error as CASError {
            failure = error
        } catch {
            failure = CASError(.remote, "healing \(ref)", cause: error)
        }
        if running[ref] == task {
            running[ref] = nil
            outcomes[ref] = (.now, failure)
            if let failure { logger.error("cannot heal \(ref): \(failure)") }
        }
        if let failure { throw failure }
    }

    /// Makes every blob of `artifact` available on the CAS again.
    private func rebuild(_ artifact: Artifact, chain: Set<String>) async throws(CASError) {
        let started = ContinuousClock.now
        guard let actionDigest = artifact.action else {
            let sent = try await reupload(artifact)
            logger.warning("healed \(artifact.refName): uploaded \(sent) blobs to \(endpoint)")
            return
        }
        let action: Build_Bazel_Remote_Execution_V2_Action = try decode(actionDigest, "the Action of \(artifact.refName)")
        let commandDigest = try Digest(action.commandDigest)
        let command: Build_Bazel_Remote_Execution_V2_Command = try decode(commandDigest, "the Command of \(artifact.refName)")
        try await provideInputs(of: action, digest: actionDigest, command: commandDigest, chain: chain)
        let execution = try executionClient(for: artifact)
        let timeout = action.hasTimeout
            ? Duration.seconds(action.timeout.seconds) + .nanoseconds(Int64(action.timeout.nanos)) : defaultTimeout
        let response = try await execution.execute(actionDigest, skipCacheLookup: true, timeout: timeout)
        let on = execution.connection.configuration.endpoint
        guard response.status.isOK else {
            throw CASError(.remote, "re-running action \(actionDigest) of \(artifact.refName) on \(on) failed: code \(response.status.code): \(response.status.message)")
        }
        guard response.result.exitCode == 0 else {
            throw CASError(.remote, "re-running action \(actionDigest) of \(artifact.refName) on \(on) failed: its commands exited with code \(response.result.exitCode)")
        }
        let root = try await outputRoot(of: response.result, command: command, artifact: artifact)
        guard root == artifact.root else {
            throw CASError(.corrupt, "\(artifact.refName) is not reproducible: re-running action \(actionDigest) produced tree \(root), not the recorded \(artifact.root), so its lost blobs cannot be re-created; build it again with --no-cache")
        }
        let (whole, fraction) = started.duration(to: .now).components
        let seconds = Double(whole) + Double(fraction) / 1e18
        logger.warning("healed \(artifact.refName): its action ran again on \(on) in \(String(format: "%.1f", seconds)) s and made the same tree")
    }

    /// Makes sure the Action, its Command and every blob of its input root are on the CAS:
    /// uploaded from the local cache where they are local, else healed through the artifacts
    /// they come from (the dependencies').
    private func provideInputs(of action: Build_Bazel_Remote_Execution_V2_Action, digest: Digest, command: Digest,
                               chain: Set<String>) async throws(CASError) {
        let inputRoot = try Digest(action.inputRootDigest)
        let inputs: (directories: Set<Digest>, files: Set<Digest>)
        do {
            inputs = try LocalTree(store: store).digests(under: inputRoot)
        } catch {
            throw CASError(.notFound, "the input root \(inputRoot) of action \(digest) is no longer in the local cache", cause: error)
        }
        let missing = try await cas.store.findMissing(Array(inputs.directories.union(inputs.files).union([digest, command])))
        let local = missing.filter { store.contains($0) }
        try await cas.store.put(Dictionary(uniqueKeysWithValues: local.map { ($0, store.source($0)) }))
        for lost in missing.subtracting(local).sorted() {
            try await heal(lost, excluding: chain)
        }
    }

    /// The root Directory of the re-run's output at the Command's output path.
    private func outputRoot(of result: Build_Bazel_Remote_Execution_V2_ActionResult,
                            command: Build_Bazel_Remote_Execution_V2_Command, artifact: Artifact) async throws(CASError) -> Digest {
        let path = command.outputPaths.first ?? command.outputDirectories.first ?? ""
        guard let output = result.outputDirectories.first(where: { $0.path == path }) else {
            throw CASError(.remote, "re-running the action of \(artifact.refName) produced no output directory '\(path)'")
        }
        if output.hasRootDirectoryDigest, !output.rootDirectoryDigest.hash.isEmpty {
            return try Digest(output.rootDirectoryDigest)
        }
        let tree = try Digest(output.treeDigest)
        try await ReadCachingContentStore(fast: store, slow: cas.store).fetchAll([tree])
        return try TreeCodec.decode(try store.read(tree), digest: tree).root
    }

    /// Uploads every blob of an artifact that ran nothing, importing what the local cache
    /// lacks from the element's sources first.
    private func reupload(_ artifact: Artifact) async throws(CASError) -> Int {
        let tree = try LocalTree(store: store).digests(under: artifact.root)
        let absent = store.missing(tree.files)
        if !absent.isEmpty {
            guard let projectRoot = artifact.projectRoot else {
                throw CASError(.notFound, "\(absent.count) blobs of \(artifact.refName) are neither on \(endpoint) nor in the local cache, and its record names no project to import them from")
            }
            do {
                let project = try Project.locate(from: projectRoot)
                _ = try ArtifactResolver(project: project, store: store).restoreSources(of: artifact, files: absent)
            } catch {
                throw CASError.wrapping(error, "importing the sources of \(artifact.refName) again", default: .notFound)
            }
        }
        let missing = try await cas.store.findMissing(Array(tree.files.union(tree.directories)))
        try await cas.store.put(Dictionary(uniqueKeysWithValues: missing.map { ($0, store.source($0)) }))
        return missing.count
    }

    private func decode<M: SwiftProtobuf.Message>(_ digest: Digest, _ what: String) throws(CASError) -> M {
        do {
            return try M(serializedBytes: try store.read(digest))
        } catch {
            throw CASError.wrapping(error, "\(what) (\(digest)) is not in the local cache", default: .notFound)
        }
    }

    private func executionClient(for artifact: Artifact) throws(CASError) -> ExecutionClient {
        let url = artifact.execution ?? endpoint
        let instance = artifact.instance ?? cas.configuration.instance
        if url == endpoint && instance == cas.configuration.instance { return ExecutionClient(connection: cas) }
        let key = "\(url) \(instance)"
        if let open = opened[key] { return ExecutionClient(connection: open) }
        let made = try connect(url, instance)
        opened[key] = made
        return ExecutionClient(connection: made)
    }
}
