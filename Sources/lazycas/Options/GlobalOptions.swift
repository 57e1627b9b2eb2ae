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

    @Option(name: [.customShort("o"), .customLong("option")],
            help: ArgumentHelp("Set a project option, as bst does: -o NAME VALUE (or NAME=VALUE); repeatable.", valueName: "name value"))
    var option: [String] = []

    /// The `-o` values as (name, value) pairs.
    func projectOptions() throws(CASError) -> [(String, String)] {
        try option.map { text throws(CASError) in
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw CASError(.invalidArgument, "-o takes an option name and a value (-o NAME VALUE or -o NAME=VALUE), got '\(text)'")
            }
            return (String(text[..<equals]), String(text[text.index(after: equals)...]))
        }
    }

    /// bst spells an option `-o NAME VALUE`, before the command (`bst -o debug true build x.bst`);
    /// the parser takes one value per flag, after the command. So the two words become
    /// `NAME=VALUE`, and options given before the command move behind it (before any `--`).
    static func joiningOptionPairs(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var leading: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" {
                result += leading + arguments[index...]
                return result
            }
            if argument == "-o" || argument == "--option", index + 1 < arguments.count {
                var pair = [argument, arguments[index + 1]]
                index += 2
                if !pair[1].contains("="), index < arguments.count {
                    pair[1] += "=" + arguments[index]
                    index += 1
                }
                if result.isEmpty { leading += pair } else { result += pair }
                continue
            }
            result.append(argument)
            index += 1
        }
        return result + leading
    }

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
