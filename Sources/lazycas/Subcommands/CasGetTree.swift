import ArgumentParser
import LocalCAS
import RemoteCAS

/// `lazycas cas get-tree DIGEST`: every Directory node local, no file blob.
struct CasGetTree: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-tree",
        abstract: "Bring every Directory node of a tree into the local CAS (and no file blob)."
    )

    @Argument(help: "HASH/SIZE of the root Directory, or a ref.")
    var tree: String

    @OptionGroup var remote: RemoteOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let context = try CommandContext(global: global, remote: remote)
        let root = try context.resolveTree(tree)
        let local = LocalTree(store: context.store)
        if try local.missingDirectories(under: root).isEmpty {
            Terminal.note("tree \(root) is already complete locally")
            return
        }
        let fetched = try await context.withRemote(for: "cas get-tree") { fetcher in
            try await TreeFetcher(fetcher: fetcher).fetchTree(root)
        }
        Terminal.note("fetched \(fetched) Directory nodes of \(root)")
    }
}
