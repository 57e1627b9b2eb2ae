import ArgumentParser
import Foundation
import Glibc
import LocalCAS
import Mount
import RemoteCAS
import Sandbox
import Synchronization

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
            --foreground it stays attached, and Ctrl-C or SIGTERM unmount it cleanly.

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

    @Flag(name: .customLong("daemon-child"), help: .hidden)
    var daemonChild = false

    @OptionGroup var profile: ProfileOptions
    @OptionGroup var bst: BuildStreamOptions
    @OptionGroup var heal: HealOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (root, context) = try await CommandContext(global: global, remote: remote, heal: heal)
            .resolve(tree, bst, part: buildtree ? .buildtree : .files)
        let path = URL(fileURLWithPath: mountpoint).standardizedFileURL.path
        if !daemonChild { try Mountpoint.validate(path) }
        let missing = try LocalTree(store: context.store).missingDirectories(under: root)
        if !missing.isEmpty {
            guard context.remote != nil else {
                throw CASError(.notFound, "Directory nodes of \(root) are not local and no remote is configured (pass --remote)")
            }
            // The process that serves the mount fetches them (see serve); say so here.
            if !daemonChild { Terminal.note("fetching the Directory nodes of \(root)…") }
        }
        if foreground || daemonChild {
            try await serve(root: root, at: path, context: context)
        } else {
            try startDaemon(at: path, context: context)
        }
    }

    /// Re-runs this command as a detached child with `--daemon-child` and returns once the
    /// tree is mounted (or the child has failed).
    private func startDaemon(at path: String, context: CommandContext) throws {
        let logs = context.store.root + "/mounts"
        try? FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let logPath = "\(logs)/mount-\(getpid()).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = Array(CommandLine.arguments.dropFirst()) + ["--daemon-child"]
        child.standardInput = FileHandle.nullDevice
        child.standardOutput = log
        child.standardError = log
        try child.run()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if Mountpoint.isMounted(path) {
                Terminal.note("mounted at \(path) (pid \(child.processIdentifier), log \(logPath))")
                return
            }
            if !child.isRunning {
                let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                throw CASError(.io, "mount failed: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            usleep(20_000)
        }
        child.terminate()
        throw CASError(.io, "mount did not come up within 120 s (log \(logPath))")
    }

    /// Mounts and serves until unmounted or signalled.
    private func serve(root: Digest, at path: String, context: CommandContext) async throws {
        if daemonChild { setsid() }
        let stats = MountStats(mountpoint: path, root: root.description)
        let remote = try context.openContent(reading: root)
        let (content, fetched) = MountContent.make(store: context.store, remote: remote)
        let profiles = ProfileStore(cacheRoot: context.store.root)
        let key = ProfileKey.forTree(tree, project: { try? context.project(bst.directory).name }, variant: buildtree ? "buildtree" : nil)
        let session = try profile.session(key, store: profiles, config: context.config)
        let fs = LazyFileSystem(root: root, store: context.store, content: content, stats: stats,
                                readAhead: readAhead, profile: session, fetched: fetched)
        // Missing Directory nodes: fetched into memory, so the tree is listable after one
        // GetTree; they are written to the local CAS in the background while it is served.
        var storing: Task<Void, Never>?
        if let remote {
            let treeFetcher = remote.trees
            let nodes = try await treeFetcher.fetchMissingNodes(root)  // [:] when all are local
            fs.seed(nodes.mapValues(\.directory))
            if !nodes.isEmpty { Terminal.note("fetched \(nodes.count) Directory nodes") }
            // On a thread of its own: thousands of file writes must not hold a cooperative
            // thread while reads need them.
            storing = nodes.isEmpty ? nil : Task {
                do { try await BlockingWork.run { try treeFetcher.store(nodes) } } catch {
                    Terminal.note("cannot store the Directory nodes of \(root): \(error)")
                }
            }
        }
        let persisting = storing
        // Set before mounting, so no signal can leave a stale mount behind.
        let slot = MountSlot()
        let signals = SignalTrap([SIGINT, SIGTERM, SIGHUP]) { _ in slot.mount?.unmount() }
        let mount = try FuseMount(fs: fs, mountpoint: path, allowOther: allowOther)
        slot.mount = mount
        let statsFile = MountStatsFile(directory: context.store.root + "/mounts", fs: fs)
        let reporter = Task { await statsFile.keepWriting() }
        var prefetchTask: Task<Void, Never>?
        if let remote {
            // Connect now (and learn the batch limit), so the first cold read pays one round
            // trip, not a connection setup too.
            Task { _ = try? await remote.connection?.cas.batchLimit() }
        }
        let profiled = remote == nil ? nil : session.map { session in Task { await session.prefetch(fs) } }
        if prefetch {
            prefetchTask = Task {
                await persisting?.value  // prefetch walks the tree in the store
                await Self.prefetchAll(root: root, store: context.store, content: content)
            }
        }
        await mount.serve()
        signals.release()
        prefetchTask?.cancel()
        profiled?.cancel()
        ProfileOptions.finish(session, key: key, store: profiles)
        reporter.cancel()
        await persisting?.value
        statsFile.remove()
        // The tree is unmounted. Fetches still in flight (a slow remote) have no reader left;
        // do not wait out their deadlines. The CAS stays consistent: a blob being written is
        // only a temp file until verified and renamed.
        Foundation.exit(0)
    }

    /// Fetches every missing file blob of the tree, largest first.
    static func prefetchAll(root: Digest, store: LocalContentStore, content: any ContentStore) async {
        guard let files = try? LocalTree(store: store).digests(under: root).files else { return }
        try? await content.fetchAll(store.missing(files.sorted { $0.sizeBytes > $1.sizeBytes }))
    }
}

/// Where a mount's (or shell's) file content comes from: reads through the local cache from the
/// remote, counted for this mount alone, or — with no remote — the local cache itself.
enum MountContent {
    static func make(store: LocalContentStore, remote: OpenRemote?)
        -> (content: any ContentStore, fetched: @Sendable () -> (blobs: Int, bytes: Int64)) {
        guard let remote else { return (store, { (0, 0) }) }
        let metrics = Metrics()
        let content = ReadCachingContentStore(fast: store, slow: MetricsContentStore(base: remote.remoteContent, metrics: metrics))
        return (content, {
            let s = metrics.snapshot
            return (s.blobsReceived, s.bytesReceived)
        })
    }
}

/// The mount a signal should end, once it exists.
final class MountSlot: Sendable {
    private let value = Mutex<FuseMount?>(nil)
    var mount: FuseMount? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
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
