import Foundation

/// What BuildStream's user configuration (`buildstream.conf`) says about where artifacts are:
/// the cache directory, the storage service behind it, and the artifact servers — read as
/// BuildStream 2.8 reads them (`_context.py`), so lazycas finds what `bst` built where `bst`
/// would look.
public struct BuildStreamConfiguration: Sendable {
    /// The file read, or nil when there was none (BuildStream's defaults).
    public let file: String?
    /// `cachedir` (default `$XDG_CACHE_HOME/buildstream`): `artifacts/refs/` and `cas/`.
    public let cacheDirectory: String
    /// `cache: storage-service:`: the remote CAS the local one stands in front of, where a
    /// build with `storage-service` leaves its content.
    public let storageService: BuildStreamRemoteSpec?
    /// `remote-execution: storage-service:`: the CAS of the execution service.
    public let executionStorage: BuildStreamRemoteSpec?
    /// `artifacts: servers:` and `override-project-caches`.
    let artifactServers: [BuildStreamRemoteSpec]
    let overridesProjectCaches: Bool
    /// `projects: NAME: artifacts:` per project.
    let projectArtifactServers: [String: (servers: [BuildStreamRemoteSpec], overrides: Bool)]

    /// Reads `explicitFile` (`--bst-config`, like `bst --config`), else the first of
    /// `$XDG_CONFIG_HOME/buildstream2.conf` and `$XDG_CONFIG_HOME/buildstream.conf` that exists.
    /// - Throws: for a file that is named but missing, or that does not parse.
    public static func load(explicitFile: String? = nil,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws(ProjectError) -> BuildStreamConfiguration {
        let env = withXDGDefaults(environment)
        if let explicitFile {
            guard FileManager.default.fileExists(atPath: explicitFile) else {
                throw ProjectError("the BuildStream configuration \(explicitFile) does not exist")
            }
            return try BuildStreamConfiguration(file: explicitFile, environment: env)
        }
        let configHome = env["XDG_CONFIG_HOME"]!
        let candidate = ["buildstream2.conf", "buildstream.conf"].map { configHome + "/" + $0 }
            .first { FileManager.default.fileExists(atPath: $0) }
        return try BuildStreamConfiguration(file: candidate, environment: env)
    }

    private init(file: String?, environment env: [String: String]) throws(ProjectError) {
        self.file = file
        let path = file.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        let node = try path.map { path throws(ProjectError) in try YAMLNode.load(path: path, shownAs: path) } ?? .emptyMapping(at: "buildstream.conf")
        guard node.isMapping || node.isNull else { throw node.error("a BuildStream configuration must be a mapping") }
        let base = path.map { String($0[..<$0.lastIndex(of: "/")!]) } ?? FileManager.default.currentDirectoryPath
        let cachedir = try node["cachedir"]?.string("'cachedir'") ?? "${XDG_CACHE_HOME}/buildstream"
        let expanded = Self.expand(cachedir, env)
        guard expanded.hasPrefix("/") else { throw (node["cachedir"] ?? node).error("'cachedir' must be an absolute path, got '\(expanded)'") }
        cacheDirectory = URL(fileURLWithPath: expanded).standardizedFileURL.path

        func spec(_ node: YAMLNode?) throws(ProjectError) -> BuildStreamRemoteSpec? {
            guard let node, !node.isNull else { return nil }
            return try BuildStreamRemoteSpec(node, base: base)
        }
        storageService = try spec(node["cache"]?["storage-service"])
        executionStorage = try spec(node["remote-execution"]?["storage-service"])
        (artifactServers, overridesProjectCaches) = try Self.servers(node["artifacts"], base: base)
        var perProject: [String: (servers: [BuildStreamRemoteSpec], overrides: Bool)] = [:]
        for (name, project) in try node["projects"]?.mapping("'projects'") ?? [] {
            if let artifacts = project["artifacts"] { perProject[name] = try Self.servers(artifacts, base: base) }
        }
        projectArtifactServers = perProject
    }

    /// The artifact servers to ask for `project`'s artifacts, in BuildStream's order: the
    /// user's servers for that project, the user's global ones, then those `project.conf`
    /// recommends (`recommended`) unless the user said `override-project-caches`.
    public func artifactRemotes(for project: String, recommended: [BuildStreamRemoteSpec]) -> [BuildStreamRemoteSpec] {
        let own = projectArtifactServers[project]
        var remotes = (own?.servers ?? []) + artifactServers
        if !(own?.overrides ?? false) && !overridesProjectCaches { remotes += recommended }
        var seen: [BuildStreamRemoteSpec] = []
        for remote in remotes where !seen.contains(remote) { seen.append(remote) }
        return seen
    }

    /// The user form of `artifacts:`: `{override-project-caches, servers: [...]}`.
    private static func servers(_ node: YAMLNode?, base: String) throws(ProjectError) -> ([BuildStreamRemoteSpec], Bool) {
        guard let node, !node.isNull else { return ([], false) }
        let keys = try node.keyed("'artifacts'", allowed: ["override-project-caches", "servers"])
        var servers: [BuildStreamRemoteSpec] = []
        for item in try keys["servers"]?.sequence("'servers'") ?? [] { servers.append(try BuildStreamRemoteSpec(item, base: base)) }
        return (servers, try keys["override-project-caches"]?.bool("'override-project-caches'") ?? false)
    }

    /// `environment` with BuildStream's defaults for the XDG directories it uses.
    static func withXDGDefaults(_ environment: [String: String]) -> [String: String] {
        var env = environment
        let home = env["HOME"] ?? NSHomeDirectory()
        for (key, fallback) in [("XDG_CACHE_HOME", "/.cache"), ("XDG_CONFIG_HOME", "/.config"), ("XDG_DATA_HOME", "/.local/share")]
        where (env[key] ?? "").isEmpty {
            env[key] = home + fallback
        }
        return env
    }

    /// `~` and `$VAR` / `${VAR}` expanded as Python's `expanduser` and `expandvars` do
    /// (an unknown variable stays as written).
    public static func expand(_ text: String, _ env: [String: String]) -> String {
        var text = text
        if text == "~" || text.hasPrefix("~/") { text = (env["HOME"] ?? NSHomeDirectory()) + text.dropFirst() }
        var result = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            result += rest[..<dollar]
            var after = rest[rest.index(after: dollar)...]
            let braced = after.first == "{"
            if braced { after = after.dropFirst() }
            let name = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            let end = after.index(after.startIndex, offsetBy: name.count)
            if !name.isEmpty, !braced || after[end...].first == "}", let value = env[String(name)] {
                result += value
                rest = braced ? after[after.index(after: end)...] : after[end...]
            } else {
                result += "$"
                rest = rest[rest.index(after: dollar)...]
            }
        }
        return result + rest
    }
}
