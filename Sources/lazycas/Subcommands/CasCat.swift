import ArgumentParser
import Foundation
import LocalCAS
import RemoteCAS

/// `lazycas cas cat DIGEST path/to/file`: fetch one blob on demand and print it.
struct CasCat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat",
        abstract: "Print a file of a tree, fetching its blob from the remote if it is not local.",
        discussion: """
            The blob is verified against its digest and kept in the local CAS, so the next cat \
            is local. Missing Directory nodes on the way are fetched too. With no PATH, TREE is \
            taken as the digest of a blob and that blob is printed.
            """
    )

    @Argument(help: "HASH/SIZE of a root Directory, a ref, NAME.bst, bst:ELEMENT or bst:PROJECT/ELEMENT/KEY.")
    var tree: String

    @Argument(help: "Path of a file inside the tree.")
    var path: String?

    @OptionGroup var bst: BuildStreamOptions
    @OptionGroup var heal: HealOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (root, context) = try await CommandContext(global: global, remote: remote, heal: heal).resolve(tree, bst)
        let local = LocalTree(store: context.store)
        let blob: Digest
        if let path {
            if context.remote != nil || context.nearby != nil, try !local.missingDirectories(under: root).isEmpty {
                _ = try await context.withRemote(for: "cas cat") { remote in
                    try await remote.trees.fetchTree(root)
                }
            }
            switch try local.resolve(root, path: path) {
            case .file(let f): blob = f.digest
            case .directory: throw CASError(.invalidArgument, "'\(path)' is a directory in tree \(root)")
            case .symlink(let s): throw CASError(.invalidArgument, "'\(path)' is a symlink to '\(s.target)' in tree \(root)")
            }
        } else {
            blob = root
        }
        if !context.store.contains(blob) {
            try await context.withRemote(for: "cas cat", reading: root) { remote in try await remote.content.fetchAll([blob]) }
        }
        try context.store.forEachChunk(of: blob) { chunk in
            FileHandle.standardOutput.write(Data(chunk))
        }
    }
}
