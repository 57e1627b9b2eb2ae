import ArgumentParser
import Driver
import Foundation
import Glibc
import LocalCAS
import Mount
import MountDaemon
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

            bst:ELEMENT enters what BuildStream built, as `bst shell` stages it: the artifacts \
            of the element and its runtime dependencies (their current keys, from bst show), \
            composed by reference, with the element's environment, the project's shell \
            environment and the integration commands run first; nothing is downloaded up \
            front. bst:PROJECT/ELEMENT/KEY enters that one artifact alone. With --build, the \
            artifact's cached build sandbox (BuildStream caches it for failed builds, or for \
            all with cache-buildtrees: always), in its build directory.
            """
    )

    @Argument(help: "NAME.bst, bst:ELEMENT, bst:PROJECT/ELEMENT/KEY, a ref, or HASH/SIZE.")
    var tree: String

    @Argument(parsing: .postTerminator, help: "The command to run (default: an interactive /bin/sh -i).")
    var command: [String] = []

    @Flag(name: .long, help: "Enter the element's build environment instead of its runtime closure (for bst:, the artifact's cached build sandbox).")
    var build = false

    @Flag(name: .long, help: "Store the tree as the command left it (the writable layer over the tree) and print its HASH/SIZE.")
    var capture = false

    @Option(name: .long, help: "With --capture, also point this ref at the captured tree.")
    var ref: String?

    @Option(name: .long, help: "How eagerly a cold read brings likely next files along: cautious (siblings after a second cold read in a directory, a walk after a second cold read anywhere; default), eager (from the first read), or off (exactly the files read).")
    var readAhead: ReadAheadPolicy = .cautious

    @Flag(name: .long, help: "Let the sandbox use the host's network.")
    var network = false

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("Bind a host path into the sandbox (repeatable).", valueName: "host:sandbox"))
    var bind: [String] = []

    @OptionGroup var profile: ProfileOptions
    @OptionGroup var bst: BuildStreamOptions
    @OptionGroup var heal: HealOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if ref != nil && !capture { throw ValidationError("--ref goes with --capture") }
        for b in bind where b.split(separator: ":", maxSplits: 1).count != 2 || !b.split(separator: ":")[1].hasPrefix("/") {
            throw ValidationError("--bind takes HOST:SANDBOX with an absolute sandbox path, got '\(b)'")
        }
        if build && !tree.hasSuffix(".bst") && !CommandContext.isBuildStream(tree) {
            throw ValidationError("--build needs an element (NAME.bst) or a BuildStream artifact (bst:…)")
        }
    }

    func run() async throws {
        if let ref { try RefStore.validate(ref) }
        let (target, integration, context) = try await resolve(try CommandContext(global: global, remote: remote, heal: heal))
        let remote = try context.openContent(reading: target.root)
        let connection = remote?.connection
        // Missing Directory nodes come in one GetTree and are served from memory at once; they
        // are written to the local CAS in the background (thousands of small files are slow
        // to create) while the command runs.
        var nodes: [Digest: FetchedDirectory] = [:]
        if try !LocalTree(store: context.store).missingDirectories(under: target.root).isEmpty {
            guard let remote else {
                throw CASError(.notFound, "Directory nodes of \(target.root) are not local and no remote is configured (pass --remote)")
            }
            nodes = try await remote.trees.fetchMissingNodes(target.root)
            if let top = nodes[target.root] { try context.store.put(top.data, expecting: target.root) }
        }
        let fetched = nodes
        let storing = Task { [trees = remote?.trees] in
            _ = try? await BlockingWork.run { try trees?.store(fetched) }
        }
        let (content, fetchedSoFar) = MountContent.make(store: context.store, remote: remote)
        // From here on a signal must not kill us with the mount and overlay up: SIGINT is the
        // command's (the terminal sends it to both), SIGTERM and SIGHUP stop the session (passed
        // on to the command while it runs), and cleanup always happens.
        let stop = SessionSignals()
        defer { stop.restore() }
        let outcome: ProcessRunner.Outcome
        let captured: Digest?
        // A shell killed earlier (SIGKILL, a crash) left its mount and overlay behind.
        StaleMounts.reclaimDeadSessions(in: context.store.root + "/shells")
        let profiles = ProfileStore(cacheRoot: context.store.root)
        // A build environment that is an action's input root goes by the action's shape: the
        // worker that ran the action may have shared what it read.
        let key = target.actionProfileKey
            ?? ProfileKey.forTree(tree, project: { try? context.project(bst.directory).name }, variant: build ? "build" : nil)
        let recording = try await profile.session(key, store: profiles, config: context.config,
                                                  sharedBy: target.actionProfileKey == nil ? nil : connection)
        let session = try WritableLazyRoot(root: target.root, in: context.store.root + "/shells/\(getpid())", store: context.store,
                                           content: content, seed: nodes.mapValues(\.directory), readAhead: readAhead,
                                           profile: recording, fetched: fetchedSoFar)
        let prefetching = remote == nil ? nil : session.startPrefetch()
        do {
            var sandbox = SandboxCommand(root: session.overlay.merged, workingDirectory: String(target.workingDirectory.drop(while: { $0 == "/" })),
                                         arguments: BuildStreamShell.integrated(command.isEmpty ? ["/bin/sh", "-i"] : command, integration),
                                         environment: target.environment.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                                         hostTools: false, user: nil)
            sandbox.network = network
            sandbox.newSession = false
            sandbox.binds = bind.map { b in
                let parts = b.split(separator: ":", maxSplits: 1).map(String.init)
                return (parts[0], parts[1])
            }
            outcome = stop.received ? .signalled(SIGTERM) : try await ProcessRunner.runAttached(sandbox.argv())
            captured = capture && !stop.received
                ? try OverlayCapture(store: context.store).capture(lower: target.root, upper: session.overlay.upper,
                                                                 ignoring: sandbox.binds.map(\.sandbox))
                : nil
        } catch {
            prefetching?.cancel()
            await session.close()
            await storing.value
            await connection?.close()
            throw error
        }
        prefetching?.cancel()
        let stats = await session.close()
        await storing.value
        await connection?.close()
        ProfileOptions.finish(recording, key: key, store: profiles)
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

    /// The tree to enter, the integration commands to run first, and the context that reads
    /// the tree's content.
    private func resolve(_ context: CommandContext) async throws -> (ShellTree, [String], CommandContext) {
        let term = ProcessInfo.processInfo.environment["TERM"] ?? "dumb"
        let defaults = ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/tmp", "SHELL": "/bin/sh", "TERM": term]
        if CommandContext.isBuildStream(tree) {
            var shell = try await BuildStreamShell.make(String(tree.dropFirst(4)), build: build, options: bst, base: context)
            shell.tree.environment["TERM"] = term
            return (shell.tree, shell.integration, shell.context)
        }
        let isElement = tree.hasSuffix(".bst") && (try? Digest(parsing: tree)) == nil && (try? context.refs.get(tree)) == nil
        guard isElement else {
            return (ShellTree(root: try context.resolveTree(tree), environment: defaults, workingDirectory: "/"), [], context)
        }
        let project = try context.project(bst.directory)
        var shell = try ArtifactResolver(project: project, store: context.store).shellTree(for: tree, build: build)
        shell.environment["TERM"] = term
        return (shell, [], context)
    }

    /// `fetched 37 of 12,408 files, 2.1 MiB of 880 MiB`.
    static func fetchSummary(_ stats: MountStatsSnapshot, root: Digest, store: LocalContentStore) throws -> String {
        var files = 0
        var bytes: Int64 = 0
        try LocalTree(store: store).forEachFile(under: root) { _, file in
            files += 1
            bytes += file.digest.sizeBytes
        }
        let profile = stats.profile.map { $0.prefetchedBlobs > 0 ? "; \($0.summary)" : "" } ?? ""
        return "fetched \(stats.blobsFetched) of \(files) files, \(formatBytes(stats.bytesFetched)) of \(formatBytes(bytes))\(profile)"
    }
}
