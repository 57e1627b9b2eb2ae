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
    /// What the plans of this build compose, stored as each element is built.
    let nodes: PlannedNodes
    let events: @Sendable (BuildEvent) -> Void

    public init(graph: ElementGraph, store: LocalContentStore, remotes: BuildRemotes?, options: BuildOptions,
                events: @escaping @Sendable (BuildEvent) -> Void) throws(CASError) {
        self.graph = graph
        self.store = store
        self.remotes = remotes
        self.options = options
        self.events = events
        artifacts = try ArtifactStore(store: store)
        nodes = PlannedNodes(store: store)
    }

    /// Where each element of a build is, and what the build has produced so far.
    private struct Progress {
        enum Status { case pending, running, done(Artifact), failed, skipped }
        var status: [String: Status]
        var summary = BuildSummary()

        init(_ graph: ElementGraph) {
            status = Dictionary(uniqueKeysWithValues: graph.order.map { ($0, Status.pending) })
        }

        func isPending(_ name: String) -> Bool {
            if case .pending? = status[name] { true } else { false }
        }

        /// A dependency failed or was skipped: the element cannot be built.
        func isBlocked(_ element: ElementDefinition) -> Bool {
            element.dependencies.contains { dep in
                switch status[dep.name] {
                case .failed?, .skipped?: true
                default: false
                }
            }
        }

        func isReady(_ element: ElementDefinition) -> Bool {
            element.dependencies.allSatisfy { dep in if case .done? = status[dep.name] { true } else { false } }
        }

        /// The artifacts of `names` that are done.
        func artifacts(_ names: [String]) -> [String: Artifact] {
            var found: [String: Artifact] = [:]
            for name in names { if case .done(let artifact)? = status[name] { found[name] = artifact } }
            return found
        }

        mutating func finish(_ name: String, _ result: Result<(Artifact, fresh: Bool), BuildFailure>) {
            switch result {
            case .success(let (artifact, fresh)):
                status[name] = .done(artifact)
                summary.artifacts[name] = artifact
                if fresh { summary.built.append(name) } else { summary.cached.append(name) }
            case .failure(let failure):
                status[name] = .failed
                summary.failed.append(failure)
            }
        }
    }

    public func run() async -> BuildSummary {
        let started = ContinuousClock.now
        var progress = Progress(graph)
        var stopping = false
        await withTaskGroup(of: (String, Result<(Artifact, fresh: Bool), BuildFailure>).self) { group in
            var remoteRunning = 0
            func startReady() {
                for name in graph.order where progress.isPending(name) {
                    guard let element = graph.elements[name] else { continue }
                    if stopping || progress.isBlocked(element) {
                        progress.status[name] = .skipped
                        progress.summary.skipped.append(name)
                        let why = stopping ? "the build is stopping after a failure" : "a dependency did not build"
                        events(BuildEvent(element: name, key: nil, kind: .skipped, message: why, elapsed: ContinuousClock.now - started))
                        continue
                    }
                    guard progress.isReady(element) else { continue }
                    let isRemote = element.kind.runsActions
                    if isRemote && remoteRunning >= max(1, options.remoteJobs) { continue }
                    if isRemote { remoteRunning += 1 }
                    progress.status[name] = .running
                    let inputs = progress.artifacts(graph.runtimeClosure(of: element.dependencies.map(\.name)))
                    group.addTask { (name, await build(element, artifacts: inputs, started: started)) }
                }
            }
            startReady()
            while let (name, result) = await group.next() {
                if graph.elements[name]?.kind.runsActions == true { remoteRunning -= 1 }
                progress.finish(name, result)
                if case .failure = result, !options.keepGoing { stopping = true }
                startReady()
            }
        }
        return progress.summary
    }

    /// Plans, produces, records and pushes one element; never throws: a failure is the result.
    private func build(_ element: ElementDefinition, artifacts inputs: [String: Artifact], started: ContinuousClock.Instant)
        async -> Result<(Artifact, fresh: Bool), BuildFailure> {
        let (name, events) = (element.name, self.events)
        let emit: @Sendable (BuildEvent.Kind, String, String?) -> Void = { kind, message, key in
            events(BuildEvent(element: name, key: key, kind: kind, message: message, elapsed: ContinuousClock.now - started))
        }
        var key: String?
        do {
            if element.sources.contains(where: \.isFetched) {
                let fetched = try await SourceFetcher(cache: try SourceCache(store: store)).fetch(element)
                if fetched > 0 { emit(.stage, "fetched \(fetched) source\(fetched == 1 ? "" : "s")", nil) }
            }
            let plan = try ElementPlanner(graph: graph, nodes: nodes).plan(name, artifacts: inputs)
            key = plan.key
            if !plan.overlaps.isEmpty {
                let detail = "Non-whitelisted overlaps detected:\n" + plan.overlaps.map { "  \($0)" }.joined(separator: "\n")
                if element.overlapsAreFatal {
                    throw BuildFailure(element: name, message: detail + "\n(fatal: project.conf lists 'overlaps' in fatal-warnings)", logTail: "", exitCode: 1)
                }
                emit(.warning, detail, plan.key)
            }
            let event: @Sendable (BuildEvent.Kind, String) -> Void = { [key] kind, message in emit(kind, message, key) }
            try nodes.persist(plan.tree)
            let (artifact, fresh) = try await produce(element, plan, event: event)
            try artifacts.record(artifact)
            try await push(artifact, event: event)
            let how = artifact.action == nil ? "composed locally" : artifact.cached ? "from the ActionCache" : "built remotely"
            event(fresh ? .success : .cached, "\(how), root \(artifact.root.short)")
            return .success((artifact, fresh))
        } catch let failure as BuildFailure {
            emit(.failure, failure.message + (failure.logTail.isEmpty ? "" : "\n" + failure.logTail), key)
            return .failure(failure)
        } catch {
            let failure = BuildFailure(element: name, message: "\(error)", logTail: "", exitCode: Self.exitCode(for: error))
            emit(.failure, failure.message, key)
            return .failure(failure)
        }
    }

    /// 1 for bad input (the project, a local file), 2 for a remote failure or remote data.
    static func exitCode(for error: any Error) -> Int32 {
        guard let casError = error as? CASError else { return error is ProjectError ? 1 : 2 }
        return [.remote, .corrupt].contains(casError.code) ? 2 : 1
    }

    /// The artifact a plan stands for: its tree, for an element that runs nothing; else what
    /// its remote action produced (or the ActionCache had).
    private func produce(_ element: ElementDefinition, _ plan: ElementPlan,
                         event: @escaping @Sendable (BuildEvent.Kind, String) -> Void) async throws -> (Artifact, fresh: Bool) {
        let known = artifacts.artifact(project: element.projectName, element: element.localName, key: plan.key)
        var artifact = Artifact(project: element.projectName, element: element.localName, key: plan.key, root: .empty, action: nil,
                                tree: nil, stdout: nil, stderr: nil, recorded: Date(), cached: false,
                                projectRoot: element.projectRoot)
        switch plan.work {
        case .artifact(let root):
            event(.start, "\(element.kind.rawValue) element")
            artifact.root = root
            return (artifact, known?.root != root)
        case .action(let built, let inputRoot, let layers):
            guard let remotes else {
                throw BuildFailure(element: element.name, message: "a manual element needs remote execution: pass --remote (or --exec-remote) or set 'remote:' in the config", logTail: "", exitCode: 1)
            }
            event(.start, "remote action \(built.action.digest.short)")
            try store.put(built.command.data, expecting: built.command.digest)
            try store.put(built.action.data, expecting: built.action.digest)
            var runner = RemoteActionRunner(store: store, remotes: remotes, artifacts: artifacts)
            runner.skipCache = options.noCache
            let outcome = try await runner.run(element, project: element.projectName, key: plan.key, built: built,
                                               inputRoot: inputRoot, layers: layers) { stage in event(.stage, stage) }
            artifact.root = try plan.finish?.apply(to: outcome.root, in: nodes) ?? outcome.root
            try nodes.persist(artifact.root)
            artifact.action = built.action.digest
            artifact.tree = outcome.tree
            artifact.stdout = outcome.stdout
            artifact.stderr = outcome.stderr
            artifact.cached = outcome.cached
            artifact.execution = remotes.execution.connection.configuration.endpoint.description
            artifact.instance = remotes.execution.connection.configuration.instance
            if options.download == .all {
                try await downloadContent(of: outcome.root, remotes: remotes)
            }
            return (artifact, !outcome.cached)
        }
    }

    /// Copies the artifact to the artifact cache, when one is configured and pushing allowed.
    private func push(_ artifact: Artifact, event: @Sendable (BuildEvent.Kind, String) -> Void) async throws {
        guard let remotes, let cache = remotes.artifactCache, cache.push else { return }
        let copied = try await cache.push(artifact, store: store, from: remotes.cas)
        event(.stage, "pushed to \(cache.connection.configuration.endpoint) (\(copied) blobs copied)")
    }

    /// `--download all`: every missing file blob of the artifact, in batches.
    private func downloadContent(of root: Digest, remotes: BuildRemotes) async throws {
        let files = try LocalTree(store: store).digests(under: root).files
        try await ReadCachingContentStore(fast: store, slow: remotes.cas.store).fetchAll(store.missing(files))
    }
}
