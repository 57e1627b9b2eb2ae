import ArgumentParser
import LocalCAS
import RemoteCAS

/// `lazycas cas get-tree DIGEST`: every Directory node local, no file blob.
struct CasGetTree: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-tree",
        abstract: "Bring every Directory node of a tree into the local CAS (and no file blob).",
        discussion: "Prints the tree's HASH/SIZE (for a ref, NAME.bst or bst: artifact, the digest it stands for). With --files, also fetch every file blob that is not local (batched, concurrent)."
    )

    @Argument(help: "HASH/SIZE of the root Directory, a ref, NAME.bst, bst:ELEMENT or bst:PROJECT/ELEMENT/KEY.")
    var tree: String

    @Flag(name: .long, help: "Also fetch every missing file blob.")
    var files = false

    @Flag(name: .long, help: "For a bst: artifact, its cached build tree instead of its files.")
    var buildtree = false

    @OptionGroup var bst: BuildStreamOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (root, context) = try await CommandContext(global: global, remote: remote).resolve(tree, bst, part: buildtree ? .buildtree : .files)
        defer { print(root) }
        let local = LocalTree(store: context.store)
        if try local.missingDirectories(under: root).isEmpty, !files {
            Terminal.note("tree \(root) is already complete locally")
            return
        }
        try await context.withRemote(for: "cas get-tree") { remote in
            let fetched = try await remote.trees.fetchTree(root)
            Terminal.note("fetched \(fetched) Directory nodes of \(root)")
            guard files else { return }
            var blobs = Set<Digest>()
            try local.forEachFile(under: root) { _, file in blobs.insert(file.digest) }
            let missing = context.store.missing(blobs)
            let bytes = missing.reduce(0) { $0 + $1.sizeBytes }
            try await remote.content.fetchAll(missing)
            Terminal.note("fetched \(missing.count) of \(blobs.count) file blobs (\(formatBytes(bytes)))")
        }
    }
}
