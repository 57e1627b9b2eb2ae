import Foundation

/// A real `buildbox-casd` (BuildBox's CAS server) on a free loopback port with a private
/// cache directory; stopped when ``stop()`` is called or the value is released.
public final class BuildboxCASD: @unchecked Sendable {
    // @unchecked: `process` is set once in init and only read afterwards.
    public let port: Int
    public let cacheDir: TemporaryDirectory
    private let process: Process

    /// `grpc://127.0.0.1:PORT`.
    public var url: String { "grpc://127.0.0.1:\(port)" }

    /// Starts casd and waits until it listens.
    /// - Throws: if the binary is missing (a failure in CI) or does not come up.
    public init(extraArguments: [String] = []) async throws {
        guard FileManager.default.isExecutableFile(atPath: TestEnvironment.casdPath) else {
            throw TestSupportError("buildbox-casd not found at \(TestEnvironment.casdPath): run scripts/setup.sh")
        }
        port = freeLoopbackPort()
        cacheDir = TemporaryDirectory("casd")
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.casdPath)
        process.arguments = ["--bind=127.0.0.1:\(port)"] + extraArguments + [cacheDir.path + "/cache"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        do {
            try await waitForListener(port: port)
        } catch {
            stop()
            throw error
        }
    }

    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }
}
