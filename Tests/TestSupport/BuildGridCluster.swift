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
