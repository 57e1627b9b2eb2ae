import ArgumentParser

/// `lazycas cas …`: the partial local CAS and its remote.
struct Cas: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put, fetch and inspect trees in the local and remote CAS.",
        subcommands: [CasPut.self, CasGetTree.self, CasLs.self, CasCat.self, CasStats.self]
    )
}
