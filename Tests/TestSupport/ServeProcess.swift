import Foundation

/// `lazycas serve` run as a user runs it (the built binary, a private HOME and storage), its
/// log (stderr) kept in a file.
public final class ServeProcess: @unchecked Sendable {
    // @unchecked: every property is set once in init.
    private let process: Process
    private let logFile: String
    /// The first line it printed: `serving on ADDRESS, … (…)`.
    public let firstLine: String

    /// The first `grpc://` or `grpcs://` address it serves on.
    public var tcp: String {
        firstLine.split(separator: " ").map { String($0.trimmingCharacters(in: CharacterSet(charactersIn: ",("))) }
            .first { $0.hasPrefix("grpc://") || $0.hasPrefix("grpcs://") } ?? ""
    }

    private init(process: Process, logFile: String, firstLine: String) {
        self.process = process
        self.logFile = logFile
        self.firstLine = firstLine
    }

    /// Starts `lazycas serve ARGUMENTS --storage HOME/server` and waits for its first line.
    /// - Throws: if it exits before printing one (its log is in the error).
    public static func start(_ home: String, _ arguments: [String]) async throws -> ServeProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.lazycasBinary)
        process.arguments = ["serve"] + arguments + ["--storage", home + "/server"]
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home
        process.environment = environment
        let logFile = home + "/serve-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: logFile)
        try process.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            if let line = log.split(separator: "\n").first(where: { $0.hasPrefix("serving on ") }) {
                return ServeProcess(process: process, logFile: logFile, firstLine: String(line))
            }
            if !process.isRunning { throw TestSupportError("lazycas serve exited:\n\(log)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        process.terminate()
        throw TestSupportError("lazycas serve printed no address in 30 s")
    }

    public var isRunning: Bool { process.isRunning }
    public var exitStatus: Int32 { process.terminationStatus }

    /// Sends SIGTERM, waits for the exit (SIGKILL after 10 s), and returns the whole log.
    @discardableResult
    public func stop() -> String {
        if process.isRunning {
            process.terminate()
            for _ in 0..<400 where process.isRunning { usleep(25_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        return (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
    }
}
