import ArgumentParser

/// Flags of commands that take a tree, for `bst:` trees (BuildStream's artifacts) and `NAME.bst`.
struct BuildStreamOptions: ParsableArguments {
    @Option(name: [.customShort("C"), .long], help: "The project directory, for NAME.bst and bst:ELEMENT (default: the nearest above the current one with a project.conf).")
    var directory: String?

    @Option(name: .customLong("bst"), help: ArgumentHelp("The bst program that computes an element's current cache key for bst:ELEMENT (default: bst on PATH).", valueName: "path"))
    var bstPath: String?

    @Option(name: .customLong("bst-config"), help: ArgumentHelp("BuildStream's configuration for bst: trees, as bst --config (default: $XDG_CONFIG_HOME/buildstream.conf).", valueName: "file"))
    var bstConfig: String?
}
