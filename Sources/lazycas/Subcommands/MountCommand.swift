import ArgumentParser
import Foundation
import Glibc
import LocalCAS
import Mount
import MountDaemon
import RemoteCAS

/// `lazycas mount TREE DIR`: a lazy, read-only FUSE view of a tree.
struct MountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount a tree read-only; file content is fetched on first read.",
        discussion: """
            Only the tree's Directory nodes are needed: missing ones are fetched first (GetTree). \
            ls, stat and find never touch the network; a file's blob is fetched, verified and \
            cached the first time it is opened. By default the mount runs in the background and \
            the command returns once the tree is there; unmount with `lazycas umount DIR`. With \
            --foreground it stays attached, and Ctrl-C or SIGTERM unmount it cleanly. The mount \
            is served by lazycas-mount, the mount daemon installed beside lazycas.

            bst:ELEMENT mounts what BuildStream built: the artifact of the element's current \
            cache key (asked of bst), from BuildStream's local cache or the artifact servers \
            and storage service its configuration names; bst:PROJECT/ELEMENT/KEY names one \
            artifact anywhere. --buildtree mounts the artifact's cached build tree instead.
            """
    )

    @Argument(help: "HASH/SIZE of the root Directory, a ref, NAME.bst, bst:ELEMENT or bst:PROJECT/ELEMENT/KEY.")
    var tree: String

    @Argument(help: "An existing, empty directory to mount on.")
    var mountpoint: String

    @Flag(name: .long, help: "Stay in the foreground until unmounted.")
    var foreground = false

    @Flag(name: .long, help: "Also fetch every missing blob in the background, largest first.")
    var prefetch = false

    @Option(name: .long, help: "How eagerly a cold read brings likely next files along: eager (siblings and the files that follow in a walk, from the first read; default), cautious (only after a second cold read), or off (exactly the files read).")
    var readAhead: ReadAheadPolicy = .eager

    @Flag(name: .long, help: "Let other users see the mount (needs user_allow_other for non-root).")
    var allowOther = false

    @Flag(name: .long, help: "For a bst: artifact, mount its cached build tree (%{build-root} after the build) instead of its files.")
    var buildtree = false

    @OptionGroup var profile: ProfileOptions
    @OptionGroup var bst: BuildStreamOptions
    @OptionGroup var heal: HealOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var global: GlobalOptions

    /// Resolves the tree, then hands it to the mount daemon, `lazycas-mount` (``MountDaemon``):
    /// in the foreground it replaces this process (same pid, same terminal, Ctrl-C unmounts),
    /// in the background it is started detached and this command returns once it has mounted.
    func run() async throws {
        let (root, context) = try await CommandContext(global: global, remote: remote, heal: heal)
            .resolve(tree, bst, part: buildtree ? .buildtree : .files)
        let path = URL(fileURLWithPath: mountpoint).standardizedFileURL.path
        try Mountpoint.validate(path)
        let missing = try LocalTree(store: context.store).missingDirectories(under: root)
        if !missing.isEmpty {
            guard context.remote != nil else {
                throw CASError(.notFound, "Directory nodes of \(root) are not local and no remote is configured (pass --remote)")
            }
            // The daemon fetches them (one GetTree); say so here.
            Terminal.note("fetching the Directory nodes of \(root)…")
        }
        let key = ProfileKey.forTree(tree, project: { try? context.project(bst.directory).name }, variant: buildtree ? "buildtree" : nil)
        let spec = MountSpec(
            root: root, mountpoint: path, cacheDirectory: context.store.root, remote: context.remote,
            nearby: context.nearby?.root, readAhead: readAhead, allowOther: allowOther, prefetch: prefetch,
            profileKey: profile.enabled(context.config) ? key : nil, profileBudget: try profile.budget(context.config),
            healer: context.heals && context.remote != nil ? try HealServer.command() : nil,
            detached: !foreground)
        let daemon = try MountSpec.daemonExecutable()
        let arguments = [daemon] + (global.verbose ? ["--verbose"] : [])
        let environment = spec.daemonEnvironment
        if foreground {
            try Self.replaceProcess(with: arguments, environment: environment)
        } else {
            try startDaemon(arguments, environment: environment, at: path, cache: context.store.root)
        }
    }

    /// Becomes `arguments[0]` (`execve`): the pid, the terminal and the signals stay.
    static func replaceProcess(with arguments: [String], environment: [String]) throws(CASError) -> Never {
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        // The signal mask survives execve, and this (a concurrency pool) thread blocks most.
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        execve(arguments[0], argv, envp)
        throw CASError(.io, "cannot run \(arguments[0]): \(String(cString: strerror(errno)))")
    }

    /// Starts the daemon detached, its output in `CACHE/mounts/mount-PID.log`, and returns once
    /// the tree is mounted (or the daemon has failed).
    private func startDaemon(_ arguments: [String], environment: [String], at path: String, cache: String) throws {
        let logs = cache + "/mounts"
        try? FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let logPath = "\(logs)/mount-\(getpid()).log"
        let log = open(logPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard log >= 0, null >= 0 else { throw CASError(.io, "cannot create \(logPath): \(String(cString: strerror(errno)))") }
        let child: ChildProcess
        do {
            defer { close(log); close(null) }
            child = try ChildProcess(arguments, environment: environment,
                                     descriptors: [STDIN_FILENO: null, STDOUT_FILENO: log, STDERR_FILENO: log])
        }
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if Mountpoint.isMounted(path) {
                Terminal.note("mounted at \(path) (pid \(child.pid), log \(logPath))")
                return
            }
            var status: Int32 = 0
            if waitpid(child.pid, &status, WNOHANG) == child.pid {
                let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                throw CASError(.io, "mount failed: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            usleep(20_000)
        }
        kill(child.pid, SIGTERM)
        throw CASError(.io, "mount did not come up within 120 s (log \(logPath))")
    }
}

/// `lazycas umount DIR`.
struct UmountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "umount",
        abstract: "Unmount a lazycas mount (the background process then exits)."
    )

    @Argument(help: "The mountpoint.")
    var mountpoint: String

    func run() async throws {
        try Mountpoint.detach(mountpoint, lazily: false)
    }
}
