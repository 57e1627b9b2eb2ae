import ArgumentParser
import Driver
import Foundation
import LocalCAS
import RemoteCAS

/// `lazycas build ELEMENT…`: build BuildStream-format elements by remote execution.
struct Build: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build elements of a BuildStream-format project by remote execution.",
        discussion: """
            Finds project.conf in the current directory or above it (or in --directory), loads \
            the targets and everything they depend on, and builds each element once its \
            dependencies are built: import, stack, filter (and compose with nothing to \
            integrate) locally; build elements (manual, autotools, cmake, make, meson, pip, \
            setuptools), script and integrating compose elements as one remote action each. \
            Sources from outside the project (tar, remote, git) are fetched first, once, and \
            cached by ref. Options: -o NAME VALUE. Inputs are composed from Directory nodes by reference (no file \
            is staged or downloaded); of the outputs only the Directory nodes and the logs come \
            back, unless --download all. Each artifact is recorded as the ref PROJECT/ELEMENT/KEY.

            Exit codes: 0 built, 1 bad input (project, element file, flag), 2 remote failure, \
            3 an element's commands failed.
            """
    )

    @Argument(help: "Elements to build, relative to the project's element-path (e.g. hello.bst).")
    var elements: [String]

    @Option(name: [.customShort("C"), .long], help: "The project directory (default: the current one or the nearest above it with a project.conf).")
    var directory: String?

    @Option(name: .long, help: "Remote actions in flight at once (default 4, or 'remote-jobs' in the config).")
    var remoteJobs: Int?

    @Option(name: .long, help: "What to bring local after each action: none (Directory nodes and logs) or all (every output file).")
    var download: String?

    @Flag(name: .long, help: "Go on building elements that do not depend on a failed one.")
    var keepGoing = false

    @Flag(name: .long, help: "Ignore the ActionCache: run every action again.")
    var noCache = false

    @OptionGroup var heal: HealOptions
    @OptionGroup var buildRemotes: BuildRemoteOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let remoteJobs, remoteJobs < 1 { throw ValidationError("--remote-jobs must be at least 1, got \(remoteJobs)") }
        if let download, DownloadPolicy(rawValue: download) == nil {
            throw ValidationError("--download must be none or all, got '\(download)'")
        }
        if elements.isEmpty { throw ValidationError("name at least one element to build") }
    }

    func run() async throws {
        let context = try CommandContext(global: global, remote: remote, heal: heal)
        let project = try context.project(directory)
        let graph = try await ElementGraph.load(project: project, targets: elements, sources: try SourceCache(store: context.store))
        var options = BuildOptions()
        options.remoteJobs = remoteJobs ?? context.config.remoteJobs ?? 4
        let policy = download ?? context.config.download ?? "none"
        guard let downloadPolicy = DownloadPolicy(rawValue: policy) else {
            throw CASError(.invalidArgument, "config key 'download' must be none or all, got '\(policy)'")
        }
        options.download = downloadPolicy
        options.keepGoing = keepGoing
        options.noCache = noCache

        let needsRemote = graph.elements.values.contains { $0.kind.runsActions }
        let report = BuildReport(graph: graph, verbose: global.verbose)
        let metrics = Metrics()
        let started = ContinuousClock.now
        let summary = try await buildRemotes.withRemotes(remote, context: context, metrics: metrics, required: needsRemote) { remotes in
            let scheduler = try BuildScheduler(graph: graph, store: context.store, remotes: remotes, options: options,
                                               events: report.show)
            return await scheduler.run()
        }
        report.summarize(summary, metrics: metrics.snapshot, elapsed: ContinuousClock.now - started)
        for target in elements {
            if let artifact = summary.artifacts[target] { print("\(artifact.refName) \(artifact.root)") }
        }
        if let first = summary.failed.first { throw ExitCode(first.exitCode) }
        if !summary.skipped.isEmpty { throw ExitCode(3) }
    }
}
