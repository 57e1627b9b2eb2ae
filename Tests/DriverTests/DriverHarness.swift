import Driver
import Foundation
import LocalCAS
import RemoteCAS
import Synchronization
import TestSupport

/// A scratch copy of a BuildStream-format project and a private local cache, and a way to
/// build it against a server with the client's own RPC counters.
struct DriverHarness {
    let dir = TemporaryDirectory("driver")
    let projectRoot: String
    let store: LocalContentStore

    /// A copy of `examples/hello` (with its busybox; `scripts/setup.sh` puts it there).
    static func examples() throws -> DriverHarness {
        let harness = try DriverHarness(empty: ())
        try FileManager.default.removeItem(atPath: harness.projectRoot)
        try FileManager.default.copyItem(atPath: TestEnvironment.packageRoot + "/examples/hello", toPath: harness.projectRoot)
        guard FileManager.default.isExecutableFile(atPath: harness.projectRoot + "/files/base/bin/busybox") else {
            throw TestSupportError("examples/hello/files/base/bin/busybox is missing: run scripts/setup.sh")
        }
        return harness
    }

    /// An empty project directory (write `project.conf` and elements with ``write(_:_:)``).
    init(empty: Void) throws {
        projectRoot = dir.sub("project")
        store = try LocalContentStore(root: dir.sub("cache"))
    }

    /// The project at `root`, as it is, with a private cache.
    init(projectAt root: String) throws {
        projectRoot = root
        store = try LocalContentStore(root: dir.sub("cache"))
    }

    /// Writes `text` to `relative` inside the project.
    func write(_ relative: String, _ text: String) {
        let path = projectRoot + "/" + relative
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }

    var project: Project { get throws { try Project(root: projectRoot) } }

    /// A project whose base is the examples' busybox import, plus the given elements.
    static func withBase(_ elements: [String: String]) throws -> DriverHarness {
        let harness = try examples()
        for name in try FileManager.default.contentsOfDirectory(atPath: harness.projectRoot + "/elements") where name != "base.bst" {
            try FileManager.default.removeItem(atPath: harness.projectRoot + "/elements/" + name)
        }
        for (name, text) in elements { harness.write("elements/" + name, text) }
        return harness
    }

    /// Builds `targets` against the server at `url`, with a fresh connection and counters.
    func build(_ targets: [String], on url: String, store: LocalContentStore? = nil, options: BuildOptions = BuildOptions(),
               artifactRemote: String? = nil) async throws -> (BuildSummary, Metrics.Snapshot, [BuildEvent]) {
        let counters = Metrics()
        let events = EventLog()
        let graph = try await ElementGraph.load(project: try project, targets: targets, sources: try SourceCache(store: store ?? self.store))
        let summary = try await RemoteConnection.with(Self.configuration(url), metrics: counters) { connection in
            var artifactCache: ArtifactCache?
            var artifactConnection: RemoteConnection?
            if let artifactRemote {
                artifactConnection = try RemoteConnection(Self.configuration(artifactRemote), metrics: counters)
                artifactCache = ArtifactCache(connection: artifactConnection!, push: true)
            }
            let remotes = BuildRemotes(cas: connection, artifactCache: artifactCache)
            let scheduler = try BuildScheduler(graph: graph, store: store ?? self.store, remotes: remotes, options: options,
                                               events: events.append)
            let summary = await scheduler.run()
            await artifactConnection?.close()
            return summary
        }
        return (summary, counters.snapshot, events.all)
    }

    static func configuration(_ url: String) -> RemoteConfiguration {
        RemoteConfiguration(endpoint: try! RemoteEndpoint(parsing: url))
    }
}

/// Collects build events from any thread.
final class EventLog: Sendable {
    private let events = Mutex<[BuildEvent]>([])
    var append: @Sendable (BuildEvent) -> Void { { [self] e in self.events.withLock { $0.append(e) } } }
    var all: [BuildEvent] { events.withLock { $0 } }
}

/// The error `body` throws, as its message says it ("no error" if it throws none).
func failure(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "no error"
    } catch {
        return "\(error)"
    }
}
