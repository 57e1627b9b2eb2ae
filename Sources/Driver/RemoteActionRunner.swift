import Foundation
import LocalCAS
import REAPI
import RemoteCAS

/// The remote services a build uses. The ActionCache and Execution services share the CAS of
/// `cas` (REAPI requires an execution server to see the same CAS as its clients).
public struct BuildRemotes: Sendable {
    /// The CAS inputs go to and outputs come from.
    public let cas: RemoteConnection
    public let actionCache: ActionCacheClient
    public let execution: ExecutionClient
    /// Where artifacts are pushed, when configured (and allowed).
    public let artifactCache: ArtifactCache?
    /// Re-creates inputs the CAS lost (evicted outputs of earlier builds); nil with `--no-heal`.
    public let healer: ArtifactHealer?
    /// Each input blob is sent once per build, however many actions find it missing at once.
    let uploads = SharedUploads()

    public init(cas: RemoteConnection, actionCache: RemoteConnection? = nil, execution: RemoteConnection? = nil,
                artifactCache: ArtifactCache? = nil, healer: ArtifactHealer? = nil) {
        self.cas = cas
        self.actionCache = ActionCacheClient(connection: actionCache ?? cas)
        self.execution = ExecutionClient(connection: execution ?? cas)
        self.artifactCache = artifactCache
        self.healer = healer
    }
}

/// Builds one `manual` element remotely in the fewest round trips the protocol allows:
///
/// 1. `GetActionResult`: a hit skips everything but fetching the output's Directory nodes
///    (and nothing at all when they are already local);
/// 2. one `FindMissingBlobs` for the Action, the Command and every Directory node and file blob
///    of the input root, then `BatchUpdateBlobs` (ByteStream for large blobs) for what is missing;
/// 3. `Execute`, following the operation (``ExecutionClient`` reattaches with WaitExecution);
/// 4. one `BatchReadBlobs` for the output `Tree` and the stdout/stderr logs: the artifact's
///    Directory nodes come local, its file blobs stay remote.
struct RemoteActionRunner: Sendable {
    let store: LocalContentStore
    let remotes: BuildRemotes
    let artifacts: ArtifactStore
    /// Reads of the remote CAS (output Trees, logs) that land in `store`.
    let content: any ContentStore
    /// Longest an action (queueing included) may take before the client gives up.
    var executionTimeout: Duration = .seconds(25 * 3600)
    /// Neither ask the ActionCache nor let the server answer from it (`--no-cache`).
    var skipCache = false

    init(store: LocalContentStore, remotes: BuildRemotes, artifacts: ArtifactStore) {
        self.store = store
        self.remotes = remotes
        self.artifacts = artifacts
        content = ReadCachingContentStore(fast: store, slow: remotes.cas.store)
    }

    /// What the runner produced: the artifact's root and logs, and whether it came from the cache.
    struct Outcome: Sendable {
        var root: Digest
        var tree: Digest?
        var stdout: Digest?
        var stderr: Digest?
        var cached: Bool
    }

    func run(_ element: ElementDefinition, project: String, key: String, built: ActionBuilder.Built,
             inputRoot: Digest, layers: [TreeComposer.Layer],
             onStage: @escaping @Sendable (String) -> Void) async throws -> Outcome {
        let action = built.action.digest
        let known = artifacts.artifact(project: project, element: element.localName, key: key)
        // A cached result counts only if it succeeded and its outputs can be had; otherwise
        // the action runs again.
        if !skipCache, let result = try await remotes.actionCache.result(for: action), result.exitCode == 0,
           let outcome = try? await outputs(of: result, element: element, built: built, known: known, cached: true) {
            return outcome
        }
        try Task.checkCancellation()
        try await uploadInputs(element, built: built, inputRoot: inputRoot, layers: layers)
        let response = try await remotes.execution.execute(action, skipCacheLookup: skipCache, timeout: executionTimeout) { stage in
            onStage("\(stage)".uppercased())
        }
        if !response.status.isOK {
            throw BuildFailure(element: element.name, message: Self.describe(response.status, action: action), logTail: "")
        }
        let result = response.result
        guard result.exitCode == 0 else {
            throw BuildFailure(element: element.name, message: "its commands failed with exit code \(result.exitCode)",
                               logTail: await logTail(of: result))
        }
        return try await outputs(of: result, element: element, built: built, known: nil, cached: response.cachedResult)
    }

    // MARK: Uploads

    private func uploadInputs(_ element: ElementDefinition, built: ActionBuilder.Built, inputRoot: Digest,
                              layers: [TreeComposer.Layer]) async throws {
        let inputs = try LocalTree(store: store).digests(under: inputRoot)
        var blobs = Dictionary(uniqueKeysWithValues: inputs.directories.union(inputs.files).map { ($0, store.source($0)) })
        blobs[built.action.digest] = .bytes(built.action.data)
        blobs[built.command.digest] = .bytes(built.command.data)
        let missing = try await remotes.cas.store.findMissing(Array(blobs.keys))
        let lost = missing.filter { !store.contains($0) && ![built.action.digest, built.command.digest].contains($0) }
        let cas = remotes.cas.store
        try await remotes.uploads.upload(blobs.filter { missing.contains($0.key) && !lost.contains($0.key) }) { try await cas.put($0) }
        // Outputs of earlier builds that the CAS evicted, which were never local: made again.
        for digest in lost.sorted() {
            let what = "\(element.name): input blob \(digest) is missing on \(remotes.cas.configuration.endpoint) and not in the local cache: \(provenance(of: digest, in: layers))"
            guard let healer = remotes.healer else { throw CASError(.notFound, what + "; rebuild that element with --no-cache, or leave out --no-heal") }
            do {
                try await healer.heal(digest, lost: CASError(.notFound, what))
            } catch {
                throw CASError(error.code, what + "; it could not be re-created (rebuild that element with --no-cache)", cause: error)
            }
        }
    }

    /// Which layer (dependency) holds `digest`, and at what path.
    private func provenance(of digest: Digest, in layers: [TreeComposer.Layer]) -> String {
        let tree = LocalTree(store: store)
        for layer in layers.reversed() {
            var found: String?
            try? tree.forEachFile(under: layer.root) { path, file in
                if found == nil && file.digest == digest { found = path }
            }
            if let found { return "it is '\(found)' of \(layer.label)" }
        }
        return "no dependency's artifact holds it"
    }

    // MARK: Outputs

    /// Brings the output directory's Directory nodes and the logs local in one round trip
    /// (none when `known` already has them) and returns the artifact.
    private func outputs(of result: Build_Bazel_Remote_Execution_V2_ActionResult, element: ElementDefinition,
                         built: ActionBuilder.Built, known: Artifact?, cached: Bool) async throws -> Outcome {
        // The whole root (`.`) may come back as `.` or as the empty path.
        let wanted: Set<String> = built.outputPath == "." ? [".", ""] : [built.outputPath]
        guard let output = result.outputDirectories.first(where: { wanted.contains($0.path) }) else {
            throw BuildFailure(element: element.name, message: "the action produced no output directory '\(built.outputPath)'", logTail: "")
        }
        let tree = output.hasTreeDigest && output.treeDigest.sizeBytes > 0 ? try Digest(output.treeDigest) : nil
        let declaredRoot = output.hasRootDirectoryDigest && !output.rootDirectoryDigest.hash.isEmpty ? try Digest(output.rootDirectoryDigest) : nil
        let stdout = result.hasStdoutDigest ? try Digest(result.stdoutDigest) : nil
        let stderr = result.hasStderrDigest ? try Digest(result.stderrDigest) : nil
        let local = LocalTree(store: store)
        if let known, (tree != nil && known.tree == tree) || (declaredRoot != nil && known.root == declaredRoot),
           try local.missingDirectories(under: known.root).isEmpty,
           store.missing([stdout, stderr].compactMap { $0 }).isEmpty {
            return Outcome(root: known.root, tree: tree, stdout: stdout, stderr: stderr, cached: cached)
        }
        try await content.fetchAll([tree, stdout, stderr].compactMap { $0 })
        var root: Digest
        if let tree {
            root = try storeTree(tree)
            if let declaredRoot, declaredRoot != root, try local.missingDirectories(under: declaredRoot).isEmpty {
                root = declaredRoot
            }
        } else if let declaredRoot {
            root = declaredRoot
            try await TreeFetcher(store: store, through: content, server: remotes.cas.cas).fetchTree(root)
        } else {
            throw BuildFailure(element: element.name, message: "the server named output '\(built.outputPath)' with neither a tree nor a root digest", logTail: "")
        }
        return Outcome(root: root, tree: tree, stdout: stdout, stderr: stderr, cached: cached)
    }

    /// Stores every Directory of a `Tree` blob (validated) and returns the root's digest.
    private func storeTree(_ digest: Digest) throws(CASError) -> Digest {
        let decoded = try TreeCodec.decode(try store.read(digest), digest: digest)
        for (node, data) in decoded.nodes { try store.put(data, expecting: node) }
        guard try LocalTree(store: store).missingDirectories(under: decoded.root).isEmpty else {
            throw CASError(.corrupt, "output Tree \(digest) does not hold every Directory under its root")
        }
        return decoded.root
    }

    // MARK: Failures

    /// The last lines of a failed action's stderr and stdout (fetched together, in one call).
    func logTail(of result: Build_Bazel_Remote_Execution_V2_ActionResult, lines: Int = 20) async -> String {
        let logs = [result.stderrDigest, result.stdoutDigest].compactMap { try? Digest($0) }
        try? await content.fetchAll(logs)
        return logs.compactMap { try? store.read($0) }
            .map { String(decoding: $0, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n") }
            .filter { !$0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            .joined(separator: "\n")
    }

    /// A non-OK `ExecuteResponse.status` in words.
    static func describe(_ status: Google_Rpc_Status, action: Digest) -> String {
        "the server did not run action \(action): code \(status.code): \(status.message)"
    }
}
