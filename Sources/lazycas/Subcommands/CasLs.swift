import Driver
import ArgumentParser
import LocalCAS

/// `lazycas cas ls TREE [PATH]`: list a directory from the local CAS alone.
struct CasLs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List a directory of a tree from the local CAS alone (no network).",
        discussion: "Run `lazycas cas get-tree` first if the tree's Directory nodes are not local. A bst: artifact's Directory nodes are brought in first (from BuildStream's local cache, else its remote): metadata only."
    )

    @Argument(help: ArgumentHelp("HASH/SIZE of a root Directory, a ref, an element NAME.bst, bst:ELEMENT or bst:PROJECT/ELEMENT/KEY (also HASH/SIZE/PATH and REF:PATH, bst:ELEMENT:PATH).", valueName: "tree"))
    var target: String

    @Argument(help: "A path inside the tree (default: its root).")
    var path: String?

    @Flag(name: .long, help: "Show each entry's digest.")
    var digests = false

    @OptionGroup var bst: BuildStreamOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let base = try CommandContext(global: global, remote: nil)
        let (argument, path) = path.map { (target, $0) } ?? TreePath.split(target)
        let (root, context) = try await base.resolve(argument, bst)
        if context.remote != nil || context.nearby != nil, try !LocalTree(store: context.store).missingDirectories(under: root).isEmpty {
            try await context.withRemote(for: "cas ls") { remote in _ = try await remote.trees.fetchTree(root) }
        }
        let tree = LocalTree(store: context.store)
        switch try tree.resolve(root, path: path) {
        case .directory(let digest):
            let dir = try tree.directory(digest)
            var rows: [(String, String)] = []
            for d in dir.directories {
                rows.append((d.name.name, "drwxr-xr-x \(pad("-")) \(d.name)/\(digests ? "  \(d.digest)" : "")"))
            }
            for f in dir.files { rows.append((f.name.name, fileRow(f))) }
            for s in dir.symlinks {
                rows.append((s.name.name, "lrwxrwxrwx \(pad("-")) \(s.name) -> \(s.target)"))
            }
            for (_, row) in rows.sorted(by: { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }) { print(row) }
        case .file(let f):
            print(fileRow(f))
        case .symlink(let s):
            print("lrwxrwxrwx \(pad("-")) \(s.name) -> \(s.target)")
        }
    }

    private func fileRow(_ f: ValidatedDirectory.File) -> String {
        "\(f.isExecutable ? "-rwxr-xr-x" : "-rw-r--r--") \(pad(String(f.digest.sizeBytes))) \(f.name)\(digests ? "  \(f.digest)" : "")"
    }

    private func pad(_ s: String) -> String {
        String(repeating: " ", count: max(0, 12 - s.count)) + s
    }
}

/// Splits a `tree[/path]` argument into a tree argument and a path inside it.
enum TreePath {
    /// A target is `HASH/SIZE[/PATH]`; a ref name may contain `/` too, so for refs and
    /// elements it is `REF:PATH` or `NAME.bst:PATH` (or just `REF`, `NAME.bst`,
    /// `JUNCTION.bst:NAME.bst`); for BuildStream's artifacts `bst:NAME.bst:PATH` or
    /// `bst:PROJECT/ELEMENT/KEY:PATH`.
    static func split(_ target: String) -> (tree: String, path: String) {
        let parts = target.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        if parts.count >= 2, parts[0].count == 64 {
            return ("\(parts[0])/\(parts[1])", parts.count == 3 ? String(parts[2]) : "")
        }
        // `sub.bst:hello.bst` is an element through a junction: the path follows the last `.bst` name.
        if target.hasSuffix(".bst") { return (target, "") }
        let prefix = CommandContext.isBuildStream(target) ? 4 : 0
        let colons = target.indices.dropFirst(prefix).filter { target[$0] == ":" }
        func endsTree(_ colon: String.Index) -> Bool {
            let before = target[..<colon]
            return before.hasSuffix(".bst") || (prefix > 0 && BuildStreamArtifactName.isKey(String(before.suffix(64))))
        }
        if let colon = colons.last(where: endsTree) ?? (prefix > 0 ? nil : colons.first) {
            return (String(target[..<colon]), String(target[target.index(after: colon)...]))
        }
        return (target, "")
    }
}
