import Foundation
import LocalCAS
import RemoteCAS

/// Whether a build brings artifact file content local.
public enum DownloadPolicy: String, Sendable, CaseIterable {
    /// Only Directory nodes and logs (the default): content is fetched when something reads it.
    case none
    /// Every file blob of every artifact built.
    case all
}

/// How a build runs.
public struct BuildOptions: Sendable {
    /// Remote actions in flight at once; independent of local CPUs (they run elsewhere).
    public var remoteJobs: Int = 4
    public var download: DownloadPolicy = .none
    /// Go on with elements that do not depend on a failed one.
    public var keepGoing = false
    /// Skip the ActionCache and run every action again.
    public var noCache = false

    public init() {}
}

/// The outcome of a build.
public struct BuildSummary: Sendable {
    public var built: [String] = []
    public var cached: [String] = []
    public var failed: [BuildFailure] = []
    public var skipped: [String] = []
    /// Every artifact the build has, by element.
    public var artifacts: [String: Artifact] = [:]
    public var succeeded: Bool { failed.isEmpty && skipped.isEmpty }
}

/// Runs an ``ElementGraph``: each element once its dependencies are done, up to
/// ``BuildOptions/remoteJobs`` remote actions at once; `import` and `stack` elements are
/// composed locally and cost no RPC. When an element fails its dependents are skipped, and
/// unless `keepGoing` is set nothing new starts (running actions finish).
public struct BuildScheduler: Sendable {
    public let graph: ElementGraph
    public let store: LocalContentStore
    public let remotes: BuildRemotes?
    public let options: BuildOptions
    let artifacts: ArtifactStore
    let events: @Sendable (BuildEvent) -> Void

    public init(graph: ElementGraph, store: LocalContentStore, remotes: BuildRemotes?, options: BuildOptions,
                events: @escaping @Sendable (BuildEvent) -> Void) throws(CASError) {
        self.graph = graph
        self.store = store
        self.remotes = remotes
        self.options = options
        self.events = events
        artifacts = try ArtifactStore(store: store)
    }

    private enum Status { case pending, running, done(Artifact), failed, skipped }

    public func run() async -> BuildSummary {
        let started = ContinuousClock.now
        var status = Dictionary(uniqueKeysWithValues: graph.order.map { ($0, Status.pending) })
        var summary = BuildSummary()
        var stopping = false
        await withTaskGroup(of: (String, Result<(Artifact, fresh: Bool), BuildFailure>).self) { group in
            var remoteRunning = 0
            func startReady() {
                for name in graph.order {
                    guard case .pending = status[name]! else { continue }
                    let element = graph.elements[name]!
                    let deps = element.dependencies.map(\.name)
                    if stopping || deps.contains(where: { if case .failed = status[$0]!  { true } else if case .skipped = status[$0]! { true } else { false } }) {
                        status[name] = .skipped
                        summary.skipped.append(name)
                        let why = stopping ? "the build is stopping after a failure" : "a dependency did not build"
                        events(BuildEvent(element: name, key: nil, kind: .skipped, message: why, elapsed: ContinuousClock.now - started))
                        continue
                    }
                    let ready = deps.allSatisfy { if case .done = status[$0]! { true } else { false } }
                    guard ready else { continue }
                    let isRemote = element.kind == .manual
                    if isRemote && remoteRunning >= max(1, options.remoteJobs) { continue }
                    if isRemote { remoteRunning += 1 }
                    status[name] = .running
                    var inputs: [String: Artifact] = [:]
                    for dep in graph.runtimeClosure(of: deps) { if case .done(let a) = status[dep]! { inputs[dep] = a } }
                    group.addTask { (name, await buildElement(name, artifacts: inputs, started: started)) }
                }
            }
            startReady()
            while let (name, result) = await group.next() {
                if graph.elements[name]!.kind == .manual { remoteRunning -= 1 }
                switch result {
                case .success(let (artifact, fresh)):
                    status[name] = .done(artifact)
                    summary.artifacts[name] = artifact
                    if fresh { summary.built.append(name) } else { summary.cached.append(name) }
                case .failure(let failure):
                    status[name] = .failed
                    summary.failed.append(failure)
                    if !options.keepGoing { stopping = true }
                }
                startReady()
            }
        }
        return summary
    }

    /// Plans and builds one element; never throws: a failure is the result.
    private func buildElement(_ name: String, artifacts inputs: [String: Artifact], started: ContinuousClock.Instant)
        async -> Result<(Artifact, fresh: Bool), BuildFailure> {
        let element = graph.elements[name]!
        let events = self.events
        let emit: @Sendable (BuildEvent.Kind, String, String?) -> Void = { kind, message, key in
            events(BuildEvent(element: name, key: key, kind: kind, message: message, elapsed: ContinuousClock.now - started))
        }
        var key: String?
        do {
            let plan = try ElementPlanner(graph: graph, store: store).plan(name, artifacts: inputs)
            key = plan.key
            let planKey = plan.key
            let event: @Sendable (BuildEvent.Kind, String) -> Void = { kind, message in emit(kind, message, planKey) }
            let known = artifacts.artifact(project: graph.project.name, element: name, key: plan.key)
            var artifact = Artifact(project: graph.project.name, element: name, key: plan.key, root: .empty, action: nil,
                                    tree: nil, stdout: nil, stderr: nil, recorded: Date(), cached: false)
            let fresh: Bool
            switch plan.work {
            case .artifact(let root):
                event(.start, "\(element.kind.rawValue) element")
                artifact.root = root
                fresh = known?.root != root
            case .action(let built, let inputRoot, let layers):
                guard let remotes else {
                    throw BuildFailure(element: name, message: "a manual element needs remote execution: pass --remote (or --exec-remote) or set 'remote:' in the config", logTail: "", exitCode: 1)
                }
                event(.start, "remote action \(built.action.digest.short)")
                var runner = RemoteActionRunner(store: store, remotes: remotes, artifacts: artifacts)
                runner.skipCache = options.noCache
                let outcome = try await runner.run(element, project: graph.project.name, key: plan.key, built: built,
                                                   inputRoot: inputRoot, layers: layers) { stage in event(.stage, stage) }
                artifact.root = outcome.root
                artifact.action = built.action.digest
                artifact.tree = outcome.tree
                artifact.stdout = outcome.stdout
                artifact.stderr = outcome.stderr
                artifact.cached = outcome.cached
                fresh = !outcome.cached
                if options.download == .all {
                    try await downloadContent(of: outcome.root, remotes: remotes)
                }
            }
            try artifacts.record(artifact)
            if let cache = remotes?.artifactCache, cache.push {
                let copied = try await cache.push(artifact, store: store, from: remotes!.cas)
                event(.stage, "pushed to \(cache.connection.configuration.endpoint) (\(copied) blobs copied)")
            }
            let how = artifact.action == nil ? "composed locally" : artifact.cached ? "from the ActionCache" : "built remotely"
            event(fresh ? .success : .cached, "\(how), root \(artifact.root.short)")
            return .success((artifact, fresh))
        } catch let failure as BuildFailure {
            emit(.failure, failure.message + (failure.logTail.isEmpty ? "" : "\n" + failure.logTail), key)
            return .failure(failure)
        } catch {
            let casError = error as? CASError
            let failure = BuildFailure(element: name, message: casError?.description ?? "\(error)", logTail: "",
                                       exitCode: casError.map { [.remote, .corrupt].contains($0.code) ? 2 : 1 } ?? 2)
            emit(.failure, failure.message, key)
            return .failure(failure)
        }
    }

    /// `--download all`: every missing file blob of the artifact, in batches.
    private func downloadContent(of root: Digest, remotes: BuildRemotes) async throws {
        let files = try LocalTree(store: store).digests(under: root).files
        try await ReadCachingContentStore(fast: store, slow: remotes.cas.store).fetchAll(store.missing(files))
    }
}
