import Foundation
import Glibc

/// Runs a command to completion or until a timeout, with stdout and stderr going to files.
public enum ProcessRunner {
    /// How a run ended.
    public enum Outcome: Sendable, Equatable {
        case exited(Int32)
        /// Killed by `signal` (not by us).
        case signalled(Int32)
        case timedOut
    }

    /// Runs `argv` (the first element looked up on PATH) and waits for it.
    /// - Throws: `.io` if it cannot be started.
    public static func run(_ argv: [String], stdout: String, stderr: String,
                           timeout: Duration) async throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        FileManager.default.createFile(atPath: stdout, contents: nil)
        FileManager.default.createFile(atPath: stderr, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: stdout)
        process.standardError = FileHandle(forWritingAtPath: stderr)
        process.standardInput = FileHandle.nullDevice
        let ended = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in ended.continuation.finish() }
        try process.run()
        let pid = process.processIdentifier
        let timedOut = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in ended.stream {}
                return false
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return !Task.isCancelled
            }
            let first = await group.next() ?? false
            if first {
                // bwrap runs with --die-with-parent: killing it takes the whole sandbox down.
                kill(pid, SIGKILL)
            }
            group.cancelAll()
            return first
        }
        process.waitUntilExit()
        if timedOut { return .timedOut }
        switch process.terminationReason {
        case .exit: return .exited(process.terminationStatus)
        case .uncaughtSignal: return .signalled(process.terminationStatus)
        @unknown default: return .exited(process.terminationStatus)
        }
    }
}
