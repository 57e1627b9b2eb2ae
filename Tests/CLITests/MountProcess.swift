import Foundation
import Glibc
import Mount
import TestSupport

/// A `lazycas mount --foreground` process of a test. Released while still running (a test that
/// failed half-way), it is killed and its mount detached, so nothing outlives the test; it never
/// holds the test runner's output open.
final class MountProcess: @unchecked Sendable {
    // @unchecked: both properties are set once in init.
    let process: Process
    let mountpoint: String

    init(_ arguments: [String], at mountpoint: String, log: String? = nil) throws {
        self.mountpoint = mountpoint
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.lazycasBinary)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        if let log {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: log)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
    }

    var isRunning: Bool { process.isRunning }
    var pid: pid_t { process.processIdentifier }
    /// Waits for the exit; after 30 s (an unmount that failed leaves the process serving) it is
    /// killed, so that a failing test does not also hang the runner.
    /// - Returns: whether it exited by itself.
    @discardableResult
    func waitUntilExit() -> Bool {
        for _ in 0..<600 where process.isRunning { usleep(50_000) }
        guard process.isRunning else { return true }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return false
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? Mountpoint.detach(mountpoint, lazily: true)
    }
}
