import ArgumentParser

/// `--no-heal`, on every command that reads trees.
struct HealOptions: ParsableArguments {
    @Flag(name: .customLong("no-heal"), help: "When the remote has lost a blob of an artifact built here, fail instead of re-creating it (re-running its action, or uploading it from its sources).")
    var noHeal = false
}
