import ArgumentParser
import Foundation
import Glibc
import LocalCAS
import RemoteCAS

/// `lazycas checkout TREE DIR` / `--tar FILE`: every file of a tree, fetched in batches and
/// written safely.
struct Checkout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a tree out as a plain directory or a reproducible tar stream.",
        discussion: """
            TREE is HASH/SIZE, a ref, an element name (NAME.bst: its artifact for the current \
            inputs, in the project around the current directory), or a BuildStream artifact \
            (bst:ELEMENT, bst:PROJECT/ELEMENT/KEY; --buildtree for its cached build tree). The blobs not in the local \
            cache are fetched first (batched, concurrent, with a progress line), then the tree is \
            written: directories entered without following symlinks, files and symlinks created \
            under temporary names and renamed into place, executables 0755, others 0644.
            """
    )

    @Argument(help: "HASH/SIZE, a ref, NAME.bst, bst:ELEMENT or bst:PROJECT/ELEMENT/KEY.")
    var tree: String

    @Argument(help: "The directory to write (created if missing; must be empty unless --force).")
    var directory: String?

    @Option(name: .long, help: ArgumentHelp("Write a tar stream to FILE ('-' for stdout) instead of a directory.", valueName: "file"))
    var tar: String?

    @Flag(name: .long, help: "Write into a non-empty directory, replacing files that are in the tree.")
    var force = false

    @Flag(name: .long, help: "Hard-link non-executable files to the local cache's copies where the filesystem allows (they stay read-only).")
    var hardlink = false

    @Flag(name: .long, help: "For a bst: artifact, check out its cached build tree instead of its files.")
    var buildtree = false

    @OptionGroup var bst: BuildStreamOptions
    @OptionGroup var heal: HealOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if (directory == nil) == (tar == nil) { throw ValidationError("give either DIR or --tar FILE") }
        if tar != nil && (force || hardlink) { throw ValidationError("--force and --hardlink apply to a directory checkout") }
    }

    func run() async throws {
        let (root, context) = try await CommandContext(global: global, remote: remote, heal: heal)
            .resolve(tree, bst, part: buildtree ? .buildtree : .files)
        if let directory { try Self.prepare(directory, force: force) }
        let local = LocalTree(store: context.store)
        // Only a complete tree can be walked for its files; an incomplete one needs the remote anyway.
        let complete = try local.missingDirectories(under: root).isEmpty
        let needsFetch = try !complete || !context.store.missing(local.digests(under: root).files).isEmpty
        if needsFetch {
            try await context.withRemote(for: "checkout", reading: root) { remote in
                try await remote.trees.fetchTree(root)
                try await Self.fetchFiles(of: root, into: context.store, through: remote.content, following: remote.metrics)
            }
        }
        if let tar {
            let fd = tar == "-" ? STDOUT_FILENO : open(tar, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw CASError(.io, "cannot create \(tar): \(String(cString: strerror(errno)))") }
            defer { if fd != STDOUT_FILENO { close(fd) } }
            try TarWriter(store: context.store).write(root, to: fd)
        } else if let directory {
            let summary = try TreeCheckout(store: context.store, hardlink: hardlink).write(root, into: directory)
            Terminal.note("checked out \(summary.files) files (\(formatBytes(summary.bytes))\(hardlink ? ", \(summary.hardlinks) hard links" : "")), \(summary.symlinks) symlinks, \(summary.directories) directories into \(directory)")
        }
    }

    /// Creates `directory` if needed; refuses a non-empty one without `force`, and a path that
    /// is not a directory (a symlink included).
    static func prepare(_ directory: String, force: Bool) throws(CASError) {
        var st = stat()
        if lstat(directory, &st) != 0 {
            guard mkdir(directory, 0o755) == 0 else {
                throw CASError(.invalidArgument, "cannot create \(directory): \(String(cString: strerror(errno)))")
            }
            return
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw CASError(.invalidArgument, "\(directory) exists and is not a directory")
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        if !entries.isEmpty && !force {
            throw CASError(.invalidArgument, "\(directory) is not empty (\(entries.count) entries): use --force to write into it")
        }
    }

    /// Every missing file blob of the tree, with a progress line.
    static func fetchFiles(of root: Digest, into store: LocalContentStore, through content: any ContentStore,
                           following metrics: Metrics) async throws {
        let blobs = try LocalTree(store: store).digests(under: root).files
        let missing = store.missing(blobs).sorted { $0.sizeBytes > $1.sizeBytes }
        let bytes = missing.reduce(0) { $0 + $1.sizeBytes }
        let progress = ProgressLine(label: "fetching", following: metrics, direction: .received)
        progress.expect(Set(missing))
        do {
            try await content.fetchAll(missing)
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        if !missing.isEmpty {
            Terminal.note("fetched \(missing.count) of \(blobs.count) file blobs (\(formatBytes(bytes)))")
        }
    }
}
