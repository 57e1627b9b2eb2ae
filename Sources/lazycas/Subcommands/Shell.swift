import ArgumentParser
import Driver
import Foundation
import Glibc
import LocalCAS
import Mount
import RemoteCAS
import Sandbox

/// `lazycas shell TREE [-- COMMAND…]`: a sandbox rooted on a lazy mount with a writable layer.
struct Shell: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a shell or a command in a sandbox rooted on a tree, fetching only what it reads.",
        discussion: """
            TREE is NAME.bst (its runtime closure: the element's artifact over those of its \
            runtime dependencies; with --build, its build environment: build dependencies, \
            sources at %{build-root}), a ref, or HASH/SIZE. The tree is mounted lazily (lazycas's \
            FUSE mount), a kernel overlayfs on top takes every write (the CAS never changes), and \
            the command runs in bubblewrap with the tree as /, plus /proc, /dev and a private \
            /tmp, the element's environment, and no network unless --network. Blobs are fetched \
            only when read; on exit lazycas says how many. Ctrl-C goes to the command; the \
            command's exit status is lazycas's. Needs root (the overlay).
            """
    )

    @Argument(help: "NAME.bst, a ref, or HASH/SIZE.")
    var tree: String

    @Argument(parsing: .postTerminator, help: "The command to run (default: an interactive /bin/sh -i).")
    var command: [String] = []

    @Flag(name: .long, help: "Enter the element's build environment instead of its runtime closure.")
    var build = false

    @Flag(name: .long, help: "Store the tree as the command left it (the writable layer over the tree) and print its HASH/SIZE.")
    var capture = false

    @Option(name: .long, help: "With --capture, also point this ref at the captured tree.")
    var ref: String?

    @Flag(name: .long, help: "Let the sandbox use the host's network.")
    var network = false

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Bind a host path into the sandbox (repeatable).", valueName: "host:sandbox"))
    var bind: [String] = []

    @Option(name: [.customShort("C"), .long], help: "The project directory, for NAME.bst.")
    var directory: String?

    @OptionGroup var remote: RemoteOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if ref != nil && !capture { throw ValidationError("--ref goes with --capture") }
        for b in bind where b.split(separator: ":", maxSplits: 1).count != 2 || !b.split(separator: ":")[1].hasPrefix("/") {
            throw ValidationError("--bind takes HOST:SANDBOX with an absolute sandbox path, got '\(b)'")
        }
        if build && !tree.hasSuffix(".bst") { throw ValidationError("--build needs an element (NAME.bst)") }
    }

    func run() async throws {
        let context = try CommandContext(global: global, remote: remote)
        if let ref { try RefStore.validate(ref) }
        let target = try resolve(context)
        let connection = try context.remote.map { try RemoteConnection($0) }
        let fetcher = connection.map { BlobFetcher(client: CASClient(connection: $0), store: context.store) }
        if try !LocalTree(store: context.store).missingDirectories(under: target.root).isEmpty {
            guard let fetcher else {
                throw CASError(.notFound, "Directory nodes of \(target.root) are not local and no remote is configured (pass --remote)")
            }
            try await TreeFetcher(fetcher: fetcher).fetchTree(target.root)
        }
        let outcome: ProcessRunner.Outcome
        let captured: Digest?
        let session = try ShellSession(root: target.root, store: context.store, fetcher: fetcher)
        do {
            var sandbox = SandboxCommand(root: session.overlay.merged, workingDirectory: String(target.workingDirectory.drop(while: { $0 == "/" })),
                                         arguments: command.isEmpty ? ["/bin/sh", "-i"] : command,
                                         environment: target.environment.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                                         hostTools: false, user: nil)
            sandbox.network = network
            sandbox.newSession = false
            sandbox.binds = bind.map { b in
                let parts = b.split(separator: ":", maxSplits: 1).map(String.init)
                return (parts[0], parts[1])
            }
            outcome = try await ProcessRunner.runAttached(sandbox.argv())
            captured = capture ? try OverlayCapture(store: context.store).capture(lower: target.root, upper: session.overlay.upper) : nil
        } catch {
            await session.close()
            await connection?.close()
            throw error
        }
        let stats = await session.close()
        await connection?.close()
        Terminal.note(try Self.fetchSummary(stats, root: target.root, store: context.store))
        if let captured {
            if let ref { try context.refs.set(ref, to: captured) }
            print(captured)
        }
        switch outcome {
        case .exited(let code): if code != 0 { throw ExitCode(code) }
        case .signalled(let signal): throw ExitCode(128 + signal)
        case .timedOut: throw ExitCode(124)
        }
    }

    private func resolve(_ context: CommandContext) throws(CASError) -> ShellTree {
        let defaults = ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/tmp", "SHELL": "/bin/sh",
                        "TERM": ProcessInfo.processInfo.environment["TERM"] ?? "dumb"]
        let isElement = tree.hasSuffix(".bst") && (try? Digest(parsing: tree)) == nil && (try? context.refs.get(tree)) == nil
        guard isElement else {
            return ShellTree(root: try context.resolveTree(tree), environment: defaults, workingDirectory: "/")
        }
        let project = try Project.locate(from: directory.map(expandingTilde) ?? FileManager.default.currentDirectoryPath)
        var shell = try ArtifactResolver(project: project, store: context.store).shellTree(for: tree, build: build)
        shell.environment["TERM"] = defaults["TERM"]
        return shell
    }

    /// `fetched 37 of 12,408 files, 2.1 MiB of 880 MiB`.
    static func fetchSummary(_ stats: MountStatsSnapshot, root: Digest, store: LocalContentStore) throws -> String {
        var files = 0
        var bytes: Int64 = 0
        try LocalTree(store: store).forEachFile(under: root) { _, file in
            files += 1
            bytes += file.digest.sizeBytes
        }
        return "fetched \(stats.blobsFetched) of \(files) files, \(formatBytes(stats.bytesFetched)) of \(formatBytes(bytes))"
    }
}

/// The mount and the writable layer of one shell, torn down by ``close()`` whatever happened.
final class ShellSession: Sendable {
    let overlay: OverlayMount
    private let mount: FuseMount
    private let fs: LazyFileSystem
    private let directory: String
    private let served: Task<Void, Never>

    /// Mounts `root` (with empty `dev`, `proc` and `tmp` added where it has none, for bwrap to
    /// mount over) and the overlay on it, under `CACHE/shells/PID`.
    init(root: Digest, store: LocalContentStore, fetcher: BlobFetcher?) throws {
        directory = store.root + "/shells/\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory + "/lower", withIntermediateDirectories: true)
        let composer = TreeComposer(store: store)
        let empty = try store.put(Data())
        var skeleton: [TreeComposer.Layer] = []
        for name in ["dev", "proc", "tmp"] {
            skeleton.append(TreeComposer.Layer(root: try composer.place(empty, at: name), label: "the sandbox's /\(name)"))
        }
        let lower = try composer.overlay([TreeComposer.Layer(root: try composer.overlay(skeleton), label: "the sandbox"),
                                          TreeComposer.Layer(root: root, label: "the tree")])
        fs = LazyFileSystem(root: lower, store: store, fetcher: fetcher, stats: MountStats(mountpoint: directory + "/lower", root: lower.description))
        let mount = try FuseMount(fs: fs, mountpoint: directory + "/lower")
        self.mount = mount
        // The FUSE loop blocks its threads; keep it off Swift's cooperative pool.
        served = Task {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                let thread = Thread {
                    mount.run()
                    done.resume()
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
        }
        do {
            overlay = try OverlayMount(lower: directory + "/lower", in: directory)
        } catch {
            mount.unmount()
            throw error
        }
    }

    /// Unmounts the overlay and the tree, removes the writable layer, and returns what the
    /// mount fetched.
    @discardableResult
    func close() async -> MountStatsSnapshot {
        overlay.unmount()
        mount.unmount()
        await served.value
        try? FileManager.default.removeItem(atPath: directory)
        return fs.currentStats
    }
}
