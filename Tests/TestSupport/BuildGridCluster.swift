import Foundation
import Glibc

/// A private BuildGrid 0.4.4 with its own PostgreSQL on loopback (`scripts/lib/buildgrid.sh`),
/// and the lazycas workers a test starts for it.
public final class BuildGridCluster: Sendable {
    public let directory: TemporaryDirectory
    /// `grpc://127.0.0.1:PORT`.
    public let url: String
    public let instance: String
    private static var script: String { TestEnvironment.packageRoot + "/scripts/lib/buildgrid.sh" }

    private init(directory: TemporaryDirectory, url: String, instance: String) {
        self.directory = directory
        self.url = url
        self.instance = instance
    }

    /// Starts PostgreSQL and BuildGrid. `keepalive`: seconds before a silent bot's leases are
    /// re-queued (short, so a killed worker's lease moves on quickly).
    public static func start(instance: String = "main", keepalive: Int = 10) async throws -> BuildGridCluster {
        let dir = TemporaryDirectory("buildgrid")
        let (status, output) = await script(["start", dir.sub("cluster"), instance], in: dir, keepalive: keepalive)
        guard status == 0, let url = output.split(separator: "\n").last.map(String.init), url.hasPrefix("grpc://") else {
            _ = await script(["stop", dir.sub("cluster")], in: dir, keepalive: keepalive)
            throw TestSupportError("BuildGrid did not start:\n\(output)")
        }
        return BuildGridCluster(directory: dir, url: url, instance: instance)
    }

    /// Runs `scripts/lib/buildgrid.sh` (which leaves daemons behind, hence ``SpawnedProcess``).
    private static func script(_ arguments: [String], in dir: TemporaryDirectory, keepalive: Int) async -> (Int32, String) {
        let output = dir.path + "/script-\(UUID().uuidString).log"
        guard let process = try? await SpawnedProcess.start(["bash", script] + arguments, output: output,
                                                            environment: ["BGD_KEEPALIVE": "\(keepalive)"]) else { return (-1, "cannot run \(script)") }
        let status = await process.wait(timeout: .seconds(120)) ?? -1
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    /// Stops and starts BuildGrid (the database, and so its jobs and bots, stay).
    public func restart() async throws {
        let (status, output) = await Self.script(["restart", directory.sub("cluster")], in: directory, keepalive: 10)
        guard status == 0 else { throw TestSupportError("BuildGrid did not restart:\n\(output)") }
    }

    public func stop() async {
        _ = await Self.script(["stop", directory.sub("cluster")], in: directory, keepalive: 10)
    }

    /// BuildGrid's log so far, for failure messages.
    public var log: String {
        (try? String(contentsOfFile: directory.sub("cluster") + "/bgd.log", encoding: .utf8)).map { String($0.suffix(4000)) } ?? ""
    }
}

/// A `lazycas worker` process for a cluster, with its counters (`--stats-file`) and log.
public final class WorkerProcess: Sendable {
    public let name: String
    public let workDirectory: String
    public let statsFile: String
    public let logFile: String
    private let process: SpawnedProcess

    private init(name: String, workDirectory: String, statsFile: String, logFile: String, process: SpawnedProcess) {
        self.name = name
        self.workDirectory = workDirectory
        self.statsFile = statsFile
        self.logFile = logFile
        self.process = process
    }

    /// Starts `lazycas worker` for `cluster`; `extra` arguments are appended.
    public static func start(_ name: String, cluster: BuildGridCluster, in directory: TemporaryDirectory,
                             capacity: Int = 1, extra: [String] = []) async throws -> WorkerProcess {
        let workDirectory = directory.sub(name)
        let statsFile = directory.path + "/\(name).json"
        let logFile = directory.path + "/\(name).log"
        try? FileManager.default.removeItem(atPath: statsFile)
        let process = try await SpawnedProcess.start(
            [TestEnvironment.lazycasBinary, "worker", "--bots-remote", cluster.url, "--cas-remote", cluster.url,
             "--instance", cluster.instance, "--capacity", "\(capacity)",
             "--platform", "OSFamily=linux", "--work-dir", workDirectory,
             "--bot-id", name, "--stats-file", statsFile, "--drain-timeout", "5"] + extra,
            output: logFile, environment: ["HOME": directory.sub("\(name)-home")])
        return WorkerProcess(name: name, workDirectory: workDirectory, statsFile: statsFile, logFile: logFile, process: process)
    }

    /// The worker's counters as JSON (nil until its first write).
    public var stats: [String: Any]? {
        guard let data = FileManager.default.contents(atPath: statsFile) else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    public func counter(_ name: String) -> Int { stats?[name] as? Int ?? 0 }

    /// The per-action records (`actions` in the stats file).
    public var actions: [[String: Any]] { stats?["actions"] as? [[String: Any]] ?? [] }

    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)).map { String($0.suffix(4000)) } ?? "" }

    public var isRunning: Bool { process.isRunning }
    public var exitStatus: Int32? { process.exitStatus }

    public func signal(_ signal: Int32) { process.signal(signal) }

    /// Waits until `condition` holds, polling; false after `timeout`.
    public func waitUntil(timeout: Duration = .seconds(60), _ condition: @Sendable (WorkerProcess) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(self) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return condition(self)
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; removes what a killed
    /// worker leaves mounted.
    public func stop(grace: Duration = .seconds(15)) async {
        if process.isRunning { signal(SIGTERM) }
        if await !waitUntil(timeout: grace, { !$0.isRunning }) {
            signal(SIGKILL)
            _ = await waitUntil(timeout: .seconds(5)) { !$0.isRunning }
        }
        let cleanup = try? await SpawnedProcess.start(["sh", "-c", "grep -o ' \(workDirectory)[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l"],
                                          output: "/dev/null")
        _ = await cleanup?.wait(timeout: .seconds(10))
    }
}
