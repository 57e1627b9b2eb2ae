import Foundation
import Glibc

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
