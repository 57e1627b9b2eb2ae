import ArgumentParser
import Foundation
import LocalCAS

/// Flags every command takes: where the config and the cache are, and how chatty to be.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Config file (default: ~/.config/lazycas/config.yaml).")
    var config: String?

    @Option(name: .long, help: "Local cache directory (default: ~/.cache/lazycas).")
    var cacheDir: String?

    @Flag(name: .shortAndLong, help: "Log what lazycas does (to stderr).")
    var verbose = false

    /// Loads the config file: `--config`, else `~/.config/lazycas/config.yaml` if it exists.
    func loadConfig() throws(CASError) -> ConfigFile {
        try ConfigFile.load(explicitPath: config.map(expandingTilde))
    }

    /// The cache directory: the flag, else the config file, else `$XDG_CACHE_HOME/lazycas`
    /// or `~/.cache/lazycas`.
    func resolvedCacheDir(_ file: ConfigFile) -> String {
        let base = ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? (homeDirectory + "/.cache")
        let dir = (cacheDir ?? file.cacheDir).map(expandingTilde) ?? base + "/lazycas"
        // Absolute, so a background mount and its log paths do not depend on the cwd.
        return URL(fileURLWithPath: dir).standardizedFileURL.path
    }

    /// Opens the local store.
    func openStore(_ file: ConfigFile) throws(CASError) -> LocalContentStore {
        try LocalContentStore(root: resolvedCacheDir(file))
    }
}
