import Glibc

/// A program started with `posix_spawn`, for the processes that link FoundationEssentials only
/// (the mount daemon), where Foundation's `Process` does not exist. Like `Process`, it gives the
/// child nothing of ours but its standard descriptors: a descriptor it inherited could keep a
/// pipe or socket open for as long as it lives (Foundation's `Process` in whoever started us
/// learns of our exit by such a socket closing, and a mount daemon lives for hours); and no
/// signal blocked or ignored (threads of a Swift process block most of them).
public struct ChildProcess: Sendable {
    public let pid: pid_t

    /// glibc's `posix_spawn_file_actions_addclosefrom_np`, looked up at run time: Swift's Glibc
    /// module does not declare it (it needs `_GNU_SOURCE`).
    public static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Starts `argv[0]` (an absolute path) with `argv`, and `environment` (`NAME=VALUE`; nil:
    /// this process's). `descriptors` maps the child's descriptors 0–2 to descriptors of this
    /// process; those left out are inherited; every other one is closed.
    /// - Throws: `.io` when it cannot be started.
    public init(_ argv: [String], environment: [String]? = nil, descriptors: [Int32: Int32] = [:]) throws(CASError) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (child, parent) in descriptors { posix_spawn_file_actions_adddup2(&actions, parent, child) }
        guard let closeFrom = Self.addCloseFrom, closeFrom(&actions, 3) == 0 else {
            throw CASError(.io, "cannot run \(argv[0]): posix_spawn cannot close inherited descriptors (glibc 2.34 or newer is needed)")
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        Self.resetSignals(&attributes)
        let args = argv.map { strdup($0) } + [nil]
        let env = environment.map { $0.map { strdup($0) } + [nil] }
        defer {
            args.forEach { free($0) }
            env?.forEach { free($0) }
        }
        var pid = pid_t()
        let status = env.map { env in posix_spawn(&pid, argv[0], &actions, &attributes, args, env) }
            ?? posix_spawn(&pid, argv[0], &actions, &attributes, args, environ)
        guard status == 0 else {
            throw CASError(.io, "cannot run \(argv[0]): \(String(cString: strerror(status)))")
        }
        self.pid = pid
    }

    /// Sets `attributes` so that the child starts with no signal blocked and every one at its
    /// default action: a thread of a Swift process blocks most of them, and a child that
    /// inherited SIGCHLD blocked never hears of its own children's exits.
    public static func resetSignals(_ attributes: UnsafeMutablePointer<posix_spawnattr_t>) {
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(attributes, &none)
        posix_spawnattr_setsigdefault(attributes, &all)
        posix_spawnattr_setflags(attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    }

    /// Waits for it to end.
    /// - Returns: its exit status, or 128 + N when signal N killed it.
    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// A pipe whose ends are closed on `exec`, so none leaks into a program another thread
    /// starts meanwhile (`posix_spawn`'s `dup2` clears the flag on the copy the child gets).
    public static func pipe() throws(CASError) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [0, 0]
        guard Glibc.pipe(&ends) == 0 else {
            throw CASError(.io, "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return (ends[0], ends[1])
    }

    /// This process's environment, `NAME=VALUE`.
    public static var currentEnvironment: [String] {
        var entries: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            entries.append(String(cString: pointer))
            entry += 1
        }
        return entries
    }
}
