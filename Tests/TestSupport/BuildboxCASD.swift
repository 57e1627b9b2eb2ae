import Foundation

/// A real `buildbox-casd` (BuildBox's CAS server) on a free loopback port with a private
/// cache directory; stopped when ``stop()`` is called or the value is released.
public final class BuildboxCASD: @unchecked Sendable {
    // @unchecked: `process` and `port` are set once in init and only read afterwards.
    public private(set) var port = 0
    public let cacheDir: TemporaryDirectory
    private var process = Process()

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
        let errors = cacheDir.path + "/casd.stderr"
        for attempt in 1...3 {
            port = freeLoopbackPort()
            process = Process()
            process.executableURL = URL(fileURLWithPath: TestEnvironment.casdPath)
            process.arguments = ["--bind=127.0.0.1:\(port)"] + extraArguments + [cacheDir.path + "/cache"]
            process.standardOutput = FileHandle.nullDevice
            _ = FileManager.default.createFile(atPath: errors, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: errors)
            try process.run()
            do {
                let process = self.process
                try await waitForListener(port: port) { process.isRunning }
                return
            } catch {
                let exited = !process.isRunning
                stop()
                if exited, attempt < 3 { continue }
                let stderr = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
                throw TestSupportError("buildbox-casd did not come up: \(error)\n\(stderr.suffix(2000))")
            }
        }
    }

    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }
}
