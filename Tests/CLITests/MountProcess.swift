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
    func waitUntilExit() { process.waitUntilExit() }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? Mountpoint.detach(mountpoint, lazily: true)
    }
}
