import Foundation
import LocalCAS

/// A BuildStream 2 project: `project.conf` composed over BuildStream's defaults, with its
/// includes, options and conditionals resolved, as BuildStream 2.8 loads it.
///
/// What it holds is what elements compose over: base variables and environment, per-kind
/// `elements:` and `sources:` overrides, split rules, sandbox settings; plus what sources need
/// (aliases, mirrors, where refs are stored) and which plugin kinds the project declared.
/// Keys BuildStream has that change nothing lazycas builds (`artifacts`, `source-caches`,
/// `defaults`, `shell`, …) are read and checked for type, never silently misread.
public struct Project: Sendable {
    /// The directory holding `project.conf` (absolute).
    public let root: String
    public let name: String
    /// Where element names are resolved (absolute).
    public let elementDirectory: String
    /// The options, with the values set from the command line (or a junction) applied.
    public let options: [String: String]
    /// Base variables: defaults, `project.conf`, `project-name`, `max-jobs`, exported options.
    let variables: Variables
    /// Base environment (unexpanded).
    let environment: YAMLNode
    let environmentNoCache: [String]
    /// Base sandbox settings and split rules (unexpanded).
    let sandbox: YAMLNode
    let splitRules: YAMLNode
    /// `elements:` and `sources:` of `project.conf`: per-kind overrides.
    let elementOverrides: YAMLNode
    let sourceOverrides: YAMLNode
    /// `aliases:`, expanded: alias → URL prefix.
    let aliases: [String: String]
    /// `mirrors:` in order (the first is the default): alias → URL prefixes to try first.
    let mirrors: [Mirror]
    /// Where source refs live.
    public let refStorage: RefStorage
    /// `project.refs` (ref-storage: project.refs), if the file exists.
    let projectRefs: YAMLNode?
    /// Warnings that are errors (`overlaps`, …).
    let fatalWarnings: Set<String>
    /// Kinds declared under `plugins:` that lazycas builds itself.
    let declaredKinds: (elements: Set<String>, sources: Set<String>)
    /// The options pool, for conditionals in element files and includes.
    let optionPool: ProjectOptions
    /// `shell:` settings (`command`, `environment`).
    public let shellCommand: [String]
    public let shellEnvironment: [String: String]
    /// `artifacts:`: the artifact servers the project recommends (BuildStream's users pull from them).
    public let artifactRemotes: [BuildStreamRemoteSpec]

    /// Where source refs are stored, as `ref-storage` says.
    public enum RefStorage: String, Sendable {
        case inline
        case projectRefs = "project.refs"
    }

    /// A `mirrors:` entry.
    struct Mirror: Sendable {
        var name: String
        var aliases: [String: [String]]
    }

    /// The value of `max-jobs`. BuildStream takes it from the user's configuration; lazycas fixes
    /// it, because the Action digest is the cache key and must not vary between machines.
    static let maxJobs = "4"

    /// Keys `project.conf` may hold (BuildStream 2.8's list).
    static let topLevelKeys: Set<String> = [
        "min-version", "element-path", "variables", "environment", "environment-nocache", "split-rules",
        "elements", "plugins", "aliases", "name", "defaults", "artifacts", "options", "fail-on-overlap",
        "shell", "fatal-warnings", "ref-storage", "sandbox", "mirrors", "sources", "source-caches",
        "junctions", "source-provenance-attributes",
    ]
    /// Keys a conditional may not set.
    static let unconditionalKeys: Set<String> = [
        "min-version", "name", "element-path", "junctions", "defaults", "fatal-warnings", "ref-storage", "options", "plugins",
    ]

    /// Element kinds and source kinds of buildstream-plugins 2.8.0 that lazycas builds.
    static let pluginElementKinds: Set<String> = ["autotools", "cmake", "make", "meson", "pip", "setuptools"]
    static let pluginSourceKinds: Set<String> = ["git", "patch"]

    /// Finds the project containing `directory`: the nearest `project.conf` at or above it.
    /// - Parameter options: `-o NAME VALUE` pairs from the command line.
    /// - Throws: if there is none, or it does not load.
    public static func locate(from directory: String, options: [(String, String)] = []) throws(ProjectError) -> Project {
        var url = URL(fileURLWithPath: directory).standardizedFileURL
        while true {
            if FileManager.default.fileExists(atPath: url.path + "/project.conf") {
                return try Project(root: url.path, options: options)
            }
            if url.path == "/" { break }
            url.deleteLastPathComponent()
        }
        throw ProjectError("no project.conf in \(directory) or any directory above it")
    }

    /// Loads `ROOT/project.conf`.
    /// - Parameters:
    ///   - options: values for its options (`-o NAME VALUE`, or a junction's `config: options:`).
    ///   - optionsOrigin: where `options` come from, for messages.
    ///   - aliasURLs: for a subproject, its aliases that a junction maps onto its parent's
    ///     (`config: aliases:`), with the parent's URL for each.
    public init(root: String, options: [(String, String)] = [], optionsOrigin: String = "command line",
                aliasURLs: [String: String] = [:]) throws(ProjectError) {
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
        var config = try BuildStreamDefaults.node("buildstream/projectconfig.yaml")
        var conf = try YAMLNode.load(path: self.root + "/project.conf", shownAs: "project.conf")
        guard conf.isMapping || conf.isNull else { throw conf.error("project.conf must be a mapping") }

        // What may not come from includes or conditionals is read from project.conf itself.
        var first = config
        try conf.composite(onto: &first)
        for key in try first.mapping("project.conf").map(\.key) where !Self.topLevelKeys.contains(key) && key != "(@)" && key != "(?)" {
            throw first[key]!.error("unknown key '\(key)' in project.conf (expected one of: \(Self.topLevelKeys.sorted().joined(separator: ", ")))")
        }
        guard let nameNode = conf["name"] else { throw conf.error("project.conf has no 'name'") }
        name = try nameNode.string("'name'")
        try Self.validate(name: name, at: nameNode)
        guard let minVersion = conf["min-version"] else {
            throw conf.error("project.conf has no 'min-version' (BuildStream 2 needs one, e.g. 'min-version: 2.0')")
        }
        let version = try minVersion.string("'min-version'")
        let parts = version.split(separator: ".").map { Int($0) }
        guard parts.count == 2, parts[0] == 2, let minor = parts[1] else {
            throw minVersion.error("min-version '\(version)' is not a BuildStream 2 version (2.x)")
        }
        guard minor <= 8 else { throw minVersion.error("min-version '\(version)' is newer than the BuildStream 2.8 format lazycas reads") }
        let elementPath = try first["element-path"]?.string("'element-path'") ?? "."
        guard !elementPath.hasPrefix("/"), !elementPath.split(separator: "/").contains("..") else {
            throw first["element-path"]!.error("element-path '\(elementPath)' must be a path inside the project")
        }
        elementDirectory = URL(fileURLWithPath: self.root + "/" + elementPath).standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: elementDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw (first["element-path"] ?? conf).error("element-path '\(elementPath)' is not a directory")
        }

        // Includes, then options (which may be declared in an include), then conditionals.
        try ProjectIncludes(projectRoot: self.root).process(&conf, options: nil)
        try conf.composite(onto: &config)
        var pool = try ProjectOptions(declarations: config["options"], elementDirectory: elementDirectory)
        try pool.set(options, from: optionsOrigin)
        try pool.process(&config, restricted: Self.unconditionalKeys)
        optionPool = pool
        self.options = pool.summary
        elementOverrides = config["elements"] ?? .emptyMapping(at: "project.conf")
        sourceOverrides = config["sources"] ?? .emptyMapping(at: "project.conf")
        config["elements"] = nil
        config["sources"] = nil
        try config.assertFullyComposited()

        var variables = try config["variables"]?.stringMap("'variables'") ?? [:]
        for protected in ["project-name", "element-name", "max-jobs"] where variables[protected] != nil {
            throw config["variables"]![protected]!.error("'\(protected)' is set by BuildStream and cannot be redefined")
        }
        variables["project-name"] = name
        variables["max-jobs"] = Self.maxJobs
        variables.merge(pool.exportedVariables) { _, option in option }
        self.variables = Variables(variables)
        environment = config["environment"] ?? .emptyMapping(at: "project.conf")
        environmentNoCache = try config["environment-nocache"]?.strings("'environment-nocache'") ?? []
        sandbox = config["sandbox"] ?? .emptyMapping(at: "project.conf")
        splitRules = config["split-rules"] ?? .emptyMapping(at: "project.conf")

        let uriVariables = self.variables.overridden(by: [
            "project-root": self.root, "toplevel-root": self.root,
            "project-root-uri": "file://" + self.root, "toplevel-root-uri": "file://" + self.root,
        ])
        var aliases: [String: String] = [:]
        for (alias, value) in try config["aliases"]?.mapping("'aliases'") ?? [] {
            aliases[alias] = try uriVariables.expand(try value.string("alias '\(alias)'"), in: value.location)
        }
        self.aliases = aliases.merging(aliasURLs) { _, parent in parent }
        var mirrors: [Mirror] = []
        for item in try config["mirrors"]?.sequence("'mirrors'") ?? [] {
            let keys = try item.keyed("a mirror", allowed: ["name", "aliases", "kind", "config"])
            if let kind = keys["kind"] { throw kind.error("source mirror plugins are not supported by lazycas (a mirror lists 'aliases')") }
            guard let mirrorName = keys["name"] else { throw item.error("a mirror needs a 'name'") }
            var map: [String: [String]] = [:]
            for (alias, urls) in try keys["aliases"]?.mapping("'aliases' of a mirror") ?? [] {
                map[alias] = try urls.strings("mirror URLs of '\(alias)'").map { url throws(ProjectError) in try uriVariables.expand(url, in: urls.location) }
            }
            mirrors.append(Mirror(name: try mirrorName.string("'name'"), aliases: map))
        }
        self.mirrors = mirrors

        let storage = try config["ref-storage"]?.string("'ref-storage'") ?? "inline"
        guard let refStorage = RefStorage(rawValue: storage) else {
            throw config["ref-storage"]!.error("ref-storage '\(storage)' must be 'inline' or 'project.refs'")
        }
        self.refStorage = refStorage
        let refsPath = self.root + "/project.refs"
        projectRefs = refStorage == .projectRefs && FileManager.default.fileExists(atPath: refsPath)
            ? try YAMLNode.load(path: refsPath, shownAs: "project.refs") : nil
        var fatal = Set(try config["fatal-warnings"]?.strings("'fatal-warnings'") ?? [])
        if let node = config["fail-on-overlap"], !node.isNull, try node.bool("'fail-on-overlap'") { fatal.insert("overlaps") }
        fatalWarnings = fatal
        declaredKinds = try Self.plugins(config["plugins"])
        let shell = try config["shell"]?.keyed("'shell'", allowed: ["command", "environment", "host-files"]) ?? [:]
        shellCommand = try shell["command"]?.strings("'command' of 'shell'") ?? ["sh", "-i"]
        shellEnvironment = try shell["environment"]?.stringMap("'environment' of 'shell'") ?? [:]
        var remotes: [BuildStreamRemoteSpec] = []
        if let artifacts = config["artifacts"], !artifacts.isNull {
            for item in artifacts.isMapping ? [artifacts] : try artifacts.sequence("'artifacts'") {
                remotes.append(try BuildStreamRemoteSpec(item, base: self.root))
            }
        }
        artifactRemotes = remotes
    }

    private static func validate(name: String, at node: YAMLNode) throws(ProjectError) {
        do {
            try RefStore.validate(name)
        } catch {
            throw node.error("project name '\(name)' must be letters, digits and ._+-@= (it names artifact refs)")
        }
        guard !name.contains("/") else { throw node.error("project name '\(name)' must not contain '/'") }
    }

    /// The kinds `plugins:` declares. buildstream-plugins from PyPI maps onto lazycas's own
    /// implementations; anything else is a plugin lazycas cannot run, named in the error.
    private static func plugins(_ node: YAMLNode?) throws(ProjectError) -> (elements: Set<String>, sources: Set<String>) {
        var elements: Set<String> = [], sources: Set<String> = []
        for entry in try node?.sequence("'plugins'") ?? [] {
            let keys = try entry.keyed("a plugins entry", allowed: ["origin", "package-name", "path", "junction", "elements", "sources", "source-mirrors", "allow-deprecated"])
            let origin = try keys["origin"]?.string("'origin'") ?? ""
            let declaredElements = try Self.names(keys["elements"], "'elements'")
            let declaredSources = try Self.names(keys["sources"], "'sources'")
            guard origin == "pip", try keys["package-name"]?.string("'package-name'") == "buildstream-plugins" else {
                let what = (declaredElements.map { "element '\($0)'" } + declaredSources.map { "source '\($0)'" }).joined(separator: ", ")
                let from = origin == "pip" ? "pip package '\(try keys["package-name"]?.string("'package-name'") ?? "?")'" : "origin '\(origin)'"
                throw entry.error("plugin \(what) from \(from) is not supported by lazycas (it builds BuildStream's core kinds and buildstream-plugins' \((pluginElementKinds.union(pluginSourceKinds)).sorted().joined(separator: ", ")))")
            }
            for (kind, set, known) in [("element", declaredElements, pluginElementKinds), ("source", declaredSources, pluginSourceKinds)] {
                for name in set where !known.contains(name) {
                    throw entry.error("buildstream-plugins \(kind) '\(name)' is not supported by lazycas (supported: \(known.sorted().joined(separator: ", ")))")
                }
            }
            if let mirrors = keys["source-mirrors"], !(try mirrors.sequence("'source-mirrors'")).isEmpty {
                throw mirrors.error("source mirror plugins are not supported by lazycas")
            }
            elements.formUnion(declaredElements)
            sources.formUnion(declaredSources)
        }
        return (elements, sources)
    }

    /// `elements:`/`sources:` of a plugins entry: a list of names (BuildStream 2 also takes
    /// mappings name → version).
    private static func names(_ node: YAMLNode?, _ what: String) throws(ProjectError) -> [String] {
        guard let node, !node.isNull else { return [] }
        if node.isMapping { return try node.mapping(what).map(\.key) }
        return try node.strings(what)
    }

    /// The refs `project.refs` holds for `element`'s sources (one mapping per source, in order).
    func refs(for element: String) -> YAMLNode? {
        projectRefs?["projects"]?[name]?[element]
    }

    /// The path of element `name` relative to the project root, as messages show it.
    func displayPath(of element: String) -> String {
        let relative = elementDirectory == root ? "" : String(elementDirectory.dropFirst(root.count + 1)) + "/"
        return relative + element
    }

    /// `url` with its alias (`alias:rest`) resolved: the URLs to try in order, mirrors first.
    /// - Throws: for an alias the project does not define.
    func urls(for url: String, at location: String) throws(ProjectError) -> [String] {
        guard let colon = url.firstIndex(of: ":") else { return [url] }
        let alias = String(url[..<colon])
        let rest = String(url[url.index(after: colon)...])
        if rest.hasPrefix("//") && aliases[alias] == nil { return [url] }  // an unaliased URL
        guard let prefix = aliases[alias] else {
            throw ProjectError("\(location): URL '\(url)' uses alias '\(alias)', which project.conf's 'aliases' does not define")
        }
        return mirrors.flatMap { ($0.aliases[alias] ?? []).map { $0 + rest } } + [prefix + rest]
    }
}
