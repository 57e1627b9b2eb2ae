import Foundation
import Glibc
import LocalCAS
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

    /// Runs `argv` (the first element looked up on PATH) and waits for it; stdin is /dev/null.
    /// After `timeout` the process is killed with SIGKILL; so it is when the calling task is
    /// cancelled (a worker's lease cancelled), which then returns `.signalled(SIGKILL)`.
    /// - Throws: ``SandboxError`` if it cannot be started.
    public static func run(_ argv: [String], stdout: String, stderr: String, timeout: Duration) async throws -> Outcome {
        let actions = UnsafeMutablePointer<posix_spawn_file_actions_t>.allocate(capacity: 1)
        posix_spawn_file_actions_init(actions)
        defer {
            posix_spawn_file_actions_destroy(actions)
            actions.deallocate()
        }
        posix_spawn_file_actions_addopen(actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else of ours reaches the child: an inherited descriptor (a directory, a
        // socket) would be a way out of the sandbox.
        guard let closeFrom = ChildProcess.addCloseFrom, closeFrom(actions, 3) == 0 else {
            throw SandboxError("cannot ask posix_spawn to close inherited descriptors (glibc 2.34 or newer is needed)")
        }
        // Nor any signal of ours blocked or ignored: a thread of this process may block most of
        // them, and a command that inherited SIGCHLD blocked never hears of its children's exits.
        let attributes = UnsafeMutablePointer<posix_spawnattr_t>.allocate(capacity: 1)
        posix_spawnattr_init(attributes)
        defer {
            posix_spawnattr_destroy(attributes)
            attributes.deallocate()
        }
        ChildProcess.resetSignals(attributes)
        let path = "PATH=" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin")
        let cArgs = CStringArray(argv)
        let cEnv = CStringArray([path])
        // posix_spawn runs the child's file actions (closefrom) before it returns, and closing a
        // descriptor of a FUSE file waits for that filesystem's FLUSH answer: when the daemon
        // is this process (a worker's lazy mount), a cooperative thread must not be the one
        // waiting. Spawning and reaping both happen on a thread of their own.
        let state = ReapState()
        // On a dispatch queue, not a task: a busy cooperative pool must not delay the kill.
        let timer = DispatchWorkItem {
            state.value.withLock { s in
                s.timedOut = true
                guard let pid = s.pid, !s.reaped else { return }
                // bwrap runs with --die-with-parent: killing it takes the whole sandbox down.
                kill(pid, SIGKILL)
                s.killed = true
            }
        }
        let (seconds, attoseconds) = timeout.components
        DispatchQueue.global().asyncAfter(
            deadline: .now() + .nanoseconds(Int(min(seconds, Int64(Int.max / 1_000_000_000 - 1))) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)),
            execute: timer)
        let request = SpawnRequest(argv: argv[0], actions: actions, attributes: attributes, arguments: cArgs.pointer, environment: cEnv.pointer)
        defer { timer.cancel() }
        let result = await withTaskCancellationHandler {
            await spawnAndWait(request, state: state)
        } onCancel: {
            state.value.withLock { s in
                if let pid = s.pid {
                    if !s.reaped { kill(pid, SIGKILL) }
                } else {
                    s.pendingSignal = SIGKILL  // not spawned yet: killed right after
                }
            }
        }
        let status = try withExtendedLifetime((cArgs, cEnv)) { try result.get() }
        if state.value.withLock({ $0.killed }) { return .timedOut }
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    /// Spawns `request` and waits for it, both on a thread of its own, recording the pid in
    /// `state` (and killing the child at once if `state` says it has already timed out).
    private static func spawnAndWait(_ request: SpawnRequest, state: ReapState) async -> Result<Int32, SandboxError> {
        await withCheckedContinuation { continuation in
            Thread {
                var pid: pid_t = 0
                let spawned = posix_spawnp(&pid, request.argv, request.actions, request.attributes, request.arguments, request.environment)
                guard spawned == 0 else {
                    continuation.resume(returning: .failure(SandboxError("cannot start \(request.argv): \(String(cString: strerror(spawned)))")))
                    return
                }
                let child = pid
                state.value.withLock { s in
                    s.pid = child
                    if s.timedOut { kill(child, SIGKILL); s.killed = true }
                    if let signal = s.pendingSignal { kill(child, signal) }
                }
                // Wait for the exit without reaping, mark it reaped under the lock, then reap:
                // the timer and signal forwarders only kill a pid that cannot have been reused.
                var info = siginfo_t()
                while waitid(P_PID, id_t(child), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR {}
                state.value.withLock { $0.reaped = true }
                var status: Int32 = 0
                while waitpid(child, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: .success(status))
            }.start()
        }
    }

    /// Runs `argv` attached to our terminal (stdin, stdout and stderr inherited; nothing else):
    /// an interactive shell. While it runs, SIGINT and SIGQUIT are ignored here, so Ctrl-C
    /// reaches the command and not us, and SIGTERM and SIGHUP are passed on to it; so we
    /// always outlive it and can clean up.
    public static func runAttached(_ argv: [String]) async throws -> Outcome {
        let actions = UnsafeMutablePointer<posix_spawn_file_actions_t>.allocate(capacity: 1)
        posix_spawn_file_actions_init(actions)
        let attributes = UnsafeMutablePointer<posix_spawnattr_t>.allocate(capacity: 1)
        posix_spawnattr_init(attributes)
        defer {
            posix_spawn_file_actions_destroy(actions)
            actions.deallocate()
            posix_spawnattr_destroy(attributes)
            attributes.deallocate()
        }
        guard let closeFrom = ChildProcess.addCloseFrom, closeFrom(actions, 3) == 0 else {
            throw SandboxError("cannot ask posix_spawn to close inherited descriptors (glibc 2.34 or newer is needed)")
        }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGQUIT, SIGTERM, SIGHUP] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(attributes, &defaults)
        posix_spawnattr_setflags(attributes, Int16(POSIX_SPAWN_SETSIGDEF))
        let cArgs = CStringArray(argv)
        let state = ReapState()
        // The caller's dispositions come back afterwards (it may itself be ignoring these).
        let trap = SignalTrap([SIGINT, SIGQUIT, SIGTERM, SIGHUP]) { sig in
            guard sig == SIGTERM || sig == SIGHUP else { return }
            state.value.withLock { s in
                if let pid = s.pid {
                    if !s.reaped { kill(pid, sig) }
                } else {
                    s.pendingSignal = sig  // not spawned yet: sent right after
                }
            }
        }
        defer { trap.release() }
        let request = SpawnRequest(argv: argv[0], actions: actions, attributes: attributes, arguments: cArgs.pointer, environment: environ)
        let result = await spawnAndWait(request, state: state)
        let status = try withExtendedLifetime(cArgs) { try result.get() }
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }
}

/// Shared by the spawning thread and the timeout task of one run.
private final class ReapState: Sendable {
    let value = Mutex<(pid: pid_t?, reaped: Bool, killed: Bool, timedOut: Bool, pendingSignal: Int32?)>((nil, false, false, false, nil))
}

/// The C arguments of one `posix_spawnp`, handed to the thread that calls it.
/// @unchecked: the pointers stay valid (and untouched by anyone else) until `run` returns,
/// which is after that thread has resumed it.
private struct SpawnRequest: @unchecked Sendable {
    let argv: String
    let actions: UnsafeMutablePointer<posix_spawn_file_actions_t>
    let attributes: UnsafeMutablePointer<posix_spawnattr_t>?
    let arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let environment: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
}

/// A NULL-terminated C array of strdup'd strings, freed with the value.
private final class CStringArray {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count + 1
        pointer = .allocate(capacity: count)
        for (i, string) in strings.enumerated() { pointer[i] = strdup(string) }
        pointer[strings.count] = nil
    }

    deinit {
        for i in 0..<count { free(pointer[i]) }
        pointer.deallocate()
    }
}
