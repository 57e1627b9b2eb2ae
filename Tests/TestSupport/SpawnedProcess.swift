import Foundation
import Glibc
import LocalCAS
import Synchronization

/// A child process started with `posix_spawn`, its stdout and stderr appended to a file, and
/// reaped with `waitpid` when asked about. Foundation's `Process` can miss the exit of a
/// child whose own background children outlive it (a script that starts daemons), and then
/// waits forever; this cannot.
public final class SpawnedProcess: Sendable {
    public let pid: pid_t
    private let status = Mutex<Int32?>(nil)

    /// Starts `argv` (looked up on PATH) with `environment` added to ours, from a thread of its
    /// own: the child closes our descriptors as it execs, and closing one of a FUSE file this
    /// process serves waits for this process, so no cooperative thread may be the one waiting.
    public static func start(_ argv: [String], output: String, environment: [String: String] = [:]) async throws -> SpawnedProcess {
        try await offPool { try SpawnedProcess(argv, output: output, environment: environment) }
    }

    /// Starts `argv` from the calling thread (see ``start(_:output:environment:)`` for why that
    /// should not be a cooperative one), with no signal blocked or ignored: the threads of a test
    /// process block most signals, and a child that inherited that mask (SIGCHLD blocked) never
    /// hears of its own children's exits — BuildStream's job server then waits forever.
    init(_ argv: [String], output: String, environment: [String: String] = [:], in directory: String? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        ChildProcess.resetSignals(&attributes)
        if let directory, let symbol = dlsym(nil, "posix_spawn_file_actions_addchdir_np") {
            // (glibc's, which the Glibc module does not import.)
            typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
            _ = unsafeBitCast(symbol, to: AddChdir.self)(&actions, directory)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of ours: a descriptor another test holds on a FUSE mount, inherited by a
        // long-lived child (a Bazel JVM), would keep that mount busy.
        // (glibc 2.34's posix_spawn_file_actions_addclosefrom_np, which the Glibc module does
        // not import.)
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
        }
        let env = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }.map { "\($0.key)=\($0.value)" }
        var cArgs = argv.map { strdup($0) } + [nil]
        var cEnv = env.map { strdup($0) } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        var pid: pid_t = 0
        let error = posix_spawnp(&pid, argv[0], &actions, &attributes, &cArgs, &cEnv)
        guard error == 0 else { throw TestSupportError("cannot start \(argv[0]): \(String(cString: strerror(error)))") }
        self.pid = pid
    }

    /// The exit status (128+N for a signal) once it has exited; nil while it runs.
    public var exitStatus: Int32? {
        status.withLock { s in
            if s == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid {
                    s = raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
                }
            }
            return s
        }
    }

    public var isRunning: Bool { exitStatus == nil }

    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Blocks the calling thread until the exit, and returns the status.
    public func waitUntilExit() -> Int32 {
        while true {
            if let s = exitStatus { return s }
            usleep(20_000)
        }
    }

    /// Waits for the exit, polling; nil if it is still running after `timeout`.
    public func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let s = exitStatus { return s }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return exitStatus
    }
}
