import ArgumentParser
import LocalCAS

/// `lazycas ref …`: names for tree digests in the local cache.
struct Ref: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Name tree digests: set, get, list and delete refs.",
        discussion: "Ref names are one or more '/'-separated parts of letters, digits and ._+-@=.",
        subcommands: [Set.self, Get.self, List.self, Delete.self]
    )

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Point NAME at HASH/SIZE.")
        @Argument(help: "The ref name.") var name: String
        @Argument(help: "HASH/SIZE of a root Directory.") var digest: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let digest = try Digest(parsing: digest)
            try refs(global).set(name, to: digest)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the HASH/SIZE NAME points at.")
        @Argument(help: "The ref name.") var name: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            print(try refs(global).get(name))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every ref with its HASH/SIZE.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            for (name, digest) in try refs(global).list() { print("\(name) \(digest)") }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a ref (the tree stays in the CAS).")
        @Argument(help: "The ref name.") var name: String
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try refs(global).delete(name)
        }
    }

    static func refs(_ global: GlobalOptions) throws(CASError) -> RefStore {
        try RefStore(root: global.resolvedCacheDir(try global.loadConfig()))
    }
}
