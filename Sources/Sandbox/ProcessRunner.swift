import Foundation
import Glibc
import Synchronization

/// Runs a command to completion or until a timeout, with stdout and stderr going to files.
public enum ProcessRunner {
    /// How a run ended.
    public enum Outcome: Sendable, Equatable {
        case exited(Int32)
        /// Killed by `signal` (not by us).
        case signalled(Int32)
        case timedOut
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np`, looked up at run time: Swift's Glibc
    /// module does not declare it (it needs `_GNU_SOURCE`).
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Runs `argv` (the first element looked up on PATH) and waits for it; stdin is /dev/null.
    /// After `timeout` the process is killed with SIGKILL.
    /// - Throws: ``SandboxError`` if it cannot be started.
    public static func run(_ argv: [String], stdout: String, stderr: String, timeout: Duration) async throws -> Outcome {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else of ours reaches the child: an inherited descriptor (a directory, a
        // socket) would be a way out of the sandbox.
        guard let closeFrom = Self.addCloseFrom, closeFrom(&actions, 3) == 0 else {
            throw SandboxError("cannot ask posix_spawn to close inherited descriptors (glibc 2.34 or newer is needed)")
        }
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        let path = "PATH=" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin")
        var cEnv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
        defer { cEnv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawnp(&pid, argv[0], &actions, nil, &cArgs, &cEnv)
        guard spawned == 0 else {
            throw SandboxError("cannot start \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        let child = pid
        // The reaper thread and the timer agree through `state`: the timer kills only a child
        // not yet reaped (its pid cannot have been reused).
        let state = ReapState()
        let timer = Task {
            try? await Task.sleep(for: timeout)
            guard !Task.isCancelled else { return }
            state.value.withLock { s in
                guard !s.reaped else { return }
                // bwrap runs with --die-with-parent: killing it takes the whole sandbox down.
                kill(child, SIGKILL)
                s.killed = true
            }
        }
        let status: Int32 = await withCheckedContinuation { continuation in
            Thread {
                var status: Int32 = 0
                while waitpid(child, &status, 0) < 0 && errno == EINTR {}
                state.value.withLock { $0.reaped = true }
                continuation.resume(returning: status)
            }.start()
        }
        timer.cancel()
        if state.value.withLock({ $0.killed }) { return .timedOut }
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }
}

/// Shared by the reaper thread and the timeout task of one run.
private final class ReapState: Sendable {
    let value = Mutex((reaped: false, killed: false))
}

/// A sandbox could not be set up or run.
public struct SandboxError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
