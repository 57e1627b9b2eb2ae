import Foundation
import Glibc

/// A real `buildbox-casd` (BuildBox's CAS server) on a free loopback port with a private
/// cache directory; stopped when ``stop()`` is called or the value is released.
public final class BuildboxCASD: @unchecked Sendable {
    // @unchecked: `process` and `port` change only in init and ``restart()``, which tests call
    // from one task.
    public private(set) var port = 0
    public let cacheDir: TemporaryDirectory
    private var process = Process()
    private let extraArguments: [String]

    /// `grpc://127.0.0.1:PORT`.
    public var url: String { "grpc://127.0.0.1:\(port)" }

    /// Starts casd and waits until it listens; a casd that exits at once (its port was taken
    /// meanwhile) is started again on another port.
    /// - Throws: if the binary is missing (a failure in CI) or does not come up.
    public init(extraArguments: [String] = []) async throws {
        guard FileManager.default.isExecutableFile(atPath: TestEnvironment.casdPath) else {
            throw TestSupportError("buildbox-casd not found at \(TestEnvironment.casdPath): run scripts/setup.sh")
        }
        cacheDir = TemporaryDirectory("casd")
        self.extraArguments = extraArguments
        for attempt in 1...3 {
            port = freeLoopbackPort()
            do {
                try await launch()
                return
            } catch is Exited where attempt < 3 {
                continue
            }
        }
    }

    /// casd exited while starting (its port was taken, most likely).
    private struct Exited: Error, CustomStringConvertible {
        let stderr: String
        var description: String { "buildbox-casd exited while starting:\n\(stderr.suffix(2000))" }
    }

    /// Runs casd on ``port`` over ``cacheDir`` and waits until it listens.
    private func launch() async throws {
        let errors = cacheDir.path + "/casd.stderr"
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.casdPath)
        process.arguments = ["--bind=127.0.0.1:\(port)"] + extraArguments + [cacheDir.path + "/cache"]
        process.standardOutput = FileHandle.nullDevice
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: errors)
        try process.run()
        do {
            let process = self.process
            // Dozens of tests start a casd at once when the suite begins: on 2 cores one may take
            // well over 20 s to listen.
            try await waitForListener(port: port, timeout: .seconds(90)) { process.isRunning }
        } catch {
            let exited = !process.isRunning
            stop()
            let stderr = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
            if exited { throw Exited(stderr: stderr) }
            throw TestSupportError("buildbox-casd did not come up: \(error)\n\(stderr.suffix(2000))")
        }
    }

    /// Kills casd with SIGKILL, as a crash would; its cache stays.
    public func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Starts casd again on the same port and cache (after ``kill()`` or ``stop()``).
    public func restart() async throws {
        stop()
        try await launch()
    }

    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }
}
