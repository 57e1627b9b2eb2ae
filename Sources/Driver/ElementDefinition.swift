import Foundation
import LocalCAS

/// One `.bst` element file, composed over its kind's defaults and the project's, checked, and
/// with its variables expanded.
public struct ElementDefinition: Sendable {
    /// The element kinds lazycas builds.
    public enum Kind: String, Sendable {
        /// Its sources are its artifact.
        case `import`
        /// No content: a name for its dependencies.
        case stack
        /// Its build dependencies staged together, integrated, optionally cut by split domains.
        case compose
        /// One build dependency's artifact cut by its split domains.
        case filter
        /// Commands run in `%{cwd}` over the staged dependencies; the artifact is `%{install-root}`.
        case script
        /// A subproject: its sources hold a project whose elements are `THIS.bst:ELEMENT.bst`.
        case junction
        /// Another name for the element (or junction) `config: target:` names.
        case link
        /// Build elements: dependencies staged at `/` (integrated), sources at `%{build-root}`,
        /// configure/build/install/strip commands run in one remote action; the artifact is
        /// what they put in `%{install-root}`. `manual` is BuildStream's; the others
        /// buildstream-plugins' with their default commands.
        case manual, autotools, cmake, make, meson, pip, setuptools

        /// Runs configure/build/install/strip commands.
        public var isBuildElement: Bool {
            switch self {
            case .import, .stack, .compose, .filter, .script, .junction, .link: false
            default: true
            }
        }

        /// May run a remote action (a build element, a script, an integrating compose).
        public var runsActions: Bool {
            isBuildElement || self == .script || self == .compose
        }
    }

    /// A dependency as declared.
    public struct Dependency: Sendable, Hashable {
        public var name: String
        /// Staged when this element builds.
        public var build: Bool
        /// Part of this element's runtime closure.
        public var runtime: Bool
        /// `FILE:LINE:COL` of the declaration.
        public var location: String
        /// A build element's `config: location:`: where this dependency is staged (default `/`).
        public var stagingLocation: String = "/"
    }

    /// The name in the graph: relative to the project's element path (`hello.bst`), prefixed
    /// by the junctions it is reached through (`sub.bst:hello.bst`).
    public let name: String
    /// The name inside its own project (`hello.bst`).
    public let localName: String
    /// The project it belongs to (a subproject's, through a junction) and that project's root.
    public let projectName: String
    public let projectRoot: String
    /// Path relative to the project root, for messages (`elements/hello.bst`).
    public let file: String
    public let kind: Kind
    /// Names as in the graph (junction prefixes included; links resolved by ``ElementGraph``).
    public internal(set) var dependencies: [Dependency]
    public let sources: [SourceDefinition]
    /// The build environment, expanded.
    public let environment: [String: String]
    /// Build elements: the configure, build, install and strip commands in the order they run, expanded.
    public let commands: [String]
    /// Build elements: where the commands run (`%{build-root}/%{command-subdir}`).
    public let workingDirectory: String
    /// Expanded `build-root` and `install-root` (absolute paths in the sandbox).
    public let buildRoot: String
    public let installRoot: String
    /// `import`: the part of the sources that becomes the artifact, and where it is placed.
    public let importSource: String
    public let importTarget: String
    /// Public data `bst: integration-commands`, expanded: run (at `/`) by whoever stages this
    /// element to build on it.
    public let integrationCommands: [String]
    /// Public data `bst: split-rules`, expanded: domain → glob patterns.
    public let splitRules: [String: [String]]
    /// Public data `bst: overlap-whitelist`, expanded: files this element may overwrite.
    public let overlapWhitelist: [String]
    /// Its project lists `overlaps` in `fatal-warnings`: overlapping dependencies fail it.
    public let overlapsAreFatal: Bool
    /// `compose` and `filter`: which split domains they keep.
    public let selection: SplitSelection
    /// `compose`: run the integration commands of what it stages.
    public let integrate: Bool
    /// `filter`: its dependency's integration commands become its own.
    public let passIntegration: Bool
    /// `link`: the element it stands for (as written, relative to this element's project).
    public let linkTarget: String?
    /// `junction`: the subproject's directory inside its sources (`config: path:`), the options
    /// it sets there, and the subproject's aliases mapped onto this project's.
    public let junction: JunctionConfiguration?

    /// What a `junction` element says about its subproject.
    public struct JunctionConfiguration: Sendable {
        public var path: String
        public var options: [(String, String)]
        public var aliases: [String: String]
    }

    /// The split domains a `compose` or `filter` element keeps.
    public struct SplitSelection: Sendable {
        public var include: [String] = []
        public var exclude: [String] = []
        public var orphans = true

        /// Keeps everything: no domain named and orphans kept.
        public var keepsAll: Bool { include.isEmpty && exclude.isEmpty && orphans }
    }

    static let knownKeys: Set<String> = [
        "kind", "description", "depends", "build-depends", "runtime-depends", "sources", "variables",
        "environment", "environment-nocache", "config", "public", "sandbox",
    ]
    /// BuildStream's other core kinds, refused by name.
    static let unsupportedKinds: Set<String> = []
    static let commandSteps = ["configure-commands", "build-commands", "install-commands", "strip-commands"]

    /// Checks an element name: a relative `.bst` path that stays inside the element path.
    static func validateName(_ name: String, at location: String) throws(ProjectError) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard name.hasSuffix(".bst"), !name.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw ProjectError("\(location): '\(name)' is not an element name (a relative path ending in .bst)")
        }
    }

    /// Checks a name that may go through junctions: `a.bst`, `sub.bst:a.bst`, `sub.bst:inner.bst:a.bst`.
    static func validateQualifiedName(_ name: String, at location: String) throws(ProjectError) {
        for part in name.split(separator: ":", omittingEmptySubsequences: false) {
            try validateName(String(part), at: location)
        }
    }

    /// Parses element `name` of `project`.
    /// - Parameters:
    ///   - refs: the element's entry of `project.refs` (ref-storage: project.refs).
    ///   - prefix: the junction prefix of `project` in the graph (`sub.bst:`), empty for the
    ///     top-level project; it prefixes this element's name and its dependencies'.
    /// - Throws: ``ProjectError`` with `FILE:LINE:COL` for anything wrong in the file.
    init(name: String, project: Project, refs: YAMLNode? = nil, junction prefix: String = "") throws(ProjectError) {
        self.name = prefix + name
        localName = name
        projectName = project.name
        projectRoot = project.root
        file = prefix + project.displayPath(of: name)
        var yaml = try YAMLNode.load(path: project.elementDirectory + "/" + name, shownAs: file)
        guard yaml.isMapping else { throw yaml.error("an element file must be a mapping") }
        try project.optionPool.process(&yaml)
        try ProjectIncludes(projectRoot: project.root).process(&yaml, options: project.optionPool)
        let keys = try yaml.keyed(file, allowed: Self.knownKeys)

        guard let kindNode = keys["kind"] else { throw yaml.error("element has no 'kind'") }
        let kindName = try kindNode.string("'kind'")
        guard let kind = Kind(rawValue: kindName) else {
            let why = Self.unsupportedKinds.contains(kindName) ? "is not supported by lazycas yet" : "is unknown"
            let supported = "import, stack, compose, filter, script, junction, link, manual, " + Project.pluginElementKinds.sorted().joined(separator: ", ")
            throw kindNode.error("element kind '\(kindName)' \(why) (supported: \(supported))")
        }
        if Project.pluginElementKinds.contains(kindName), !project.declaredKinds.elements.contains(kindName) {
            throw kindNode.error("element kind '\(kindName)' comes from buildstream-plugins: declare it in project.conf (plugins: - origin: pip, package-name: buildstream-plugins, elements: [\(kindName)])")
        }
        self.kind = kind

        // `%{element-name}` is the name as written (`hello.bst`), as in BuildStream 2.
        let composed = try ElementConfiguration(kind: kindName, node: yaml, name: name, project: project)
        let variables = composed.variables
        let context = file
        func expand(_ node: YAMLNode) throws(ProjectError) -> YAMLNode {
            try node.mapScalars { text throws(ProjectError) in try variables.expand(text, in: context) }
        }
        environment = try expand(composed.environment).stringMap("'environment'")
        buildRoot = try variables.value("build-root", in: context)
        installRoot = try variables.value("install-root", in: context)
        for (label, value) in [("build-root", buildRoot), ("install-root", installRoot)] where !value.hasPrefix("/") || value == "/" {
            throw yaml.error("%{\(label)} must be an absolute path other than '/', got '\(value)'")
        }
        let subdir = try variables.values["command-subdir"].map { text throws(ProjectError) in try variables.expand(text, in: context) } ?? ""

        let publicData = try expand(composed.publicData)
        let bst = try publicData["bst"]?.keyed("public data 'bst'", allowed: ["integration-commands", "split-rules", "overlap-whitelist"]) ?? [:]
        integrationCommands = try bst["integration-commands"]?.strings("'integration-commands'") ?? []
        var splitRules: [String: [String]] = [:]
        for (domain, rules) in try bst["split-rules"]?.mapping("'split-rules'") ?? [] {
            splitRules[domain] = try rules.strings("split rules of '\(domain)'").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        }
        self.splitRules = splitRules
        overlapsAreFatal = project.fatalWarnings.contains("overlaps")
        overlapWhitelist = try bst["overlap-whitelist"]?.strings("'overlap-whitelist'").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? []

        dependencies = try Self.parseDependencies(keys, file: file, configurable: kind.isBuildElement || kind == .script).map { dep throws(ProjectError) in
            var qualified = dep
            qualified.name = prefix + dep.name
            qualified.stagingLocation = try variables.expand(dep.stagingLocation, in: context)
            return qualified
        }
        var sources: [SourceDefinition] = []
        let refList = try refs?.sequence("project.refs entry of \(name)") ?? []
        for (index, item) in try (keys["sources"]?.sequence("'sources'") ?? []).enumerated() {
            // Source configuration is expanded with the element's variables, as in BuildStream 2.
            sources.append(try SourceDefinition(try expand(item), index: index, project: project, refs: index < refList.count ? refList[index] : nil))
        }
        self.sources = sources

        let config = try expand(composed.config)
        var commands: [String] = []
        var importSource = "/", importTarget = "/"
        var selection = SplitSelection(), integrate = false, passIntegration = false
        var linkTarget: String?, junction: JunctionConfiguration?
        var workingDirectory = subdir.isEmpty ? buildRoot : buildRoot + "/" + subdir
        func noSources() throws(ProjectError) {
            if !sources.isEmpty { throw keys["sources"]!.error("a \(kindName) element cannot have sources") }
        }
        switch kind {
        case .import:
            let fields = try config.keyed("config of an import element", allowed: ["source", "target"])
            importSource = try fields["source"]?.string("'source'") ?? "/"
            importTarget = try fields["target"]?.string("'target'") ?? "/"
            guard !sources.isEmpty else { throw yaml.error("an import element must have at least one source") }
        case .stack:
            if let first = try config.mapping("'config'").first { throw first.value.error("a stack element takes no config") }
            try noSources()
            if let dep = dependencies.first(where: { !($0.build && $0.runtime) }) {
                throw ProjectError("\(dep.location): every dependency of a stack element must be in 'depends' with no type ('\(dep.name)' is not)")
            }
        case .compose, .filter:
            let allowed: Set<String> = kind == .compose ? ["integrate", "include", "exclude", "include-orphans"] : ["include", "exclude", "include-orphans", "pass-integration"]
            let fields = try config.keyed("config of a \(kindName) element", allowed: allowed)
            selection.include = try fields["include"]?.strings("'include'") ?? []
            selection.exclude = try fields["exclude"]?.strings("'exclude'") ?? []
            selection.orphans = try fields["include-orphans"]?.bool("'include-orphans'") ?? (kind == .compose)
            integrate = try fields["integrate"]?.bool("'integrate'") ?? false
            passIntegration = try fields["pass-integration"]?.bool("'pass-integration'") ?? false
            try noSources()
            if kind == .compose, let dep = dependencies.first(where: \.runtime) {
                throw ProjectError("\(dep.location): a compose element cannot have runtime dependencies ('\(dep.name)'): use build-depends")
            }
            if kind == .filter {
                let builds = dependencies.filter(\.build)
                guard builds.count == 1 else {
                    throw yaml.error("a filter element must have exactly 1 build dependency, it has \(builds.count)")
                }
                if builds[0].runtime {
                    throw ProjectError("\(builds[0].location): a filter element's build dependency must not also be a runtime dependency")
                }
            }
        case .link:
            let fields = try config.keyed("config of a link element", allowed: ["target"])
            guard let target = fields["target"] else { throw yaml.error("a link element needs 'config: target:'") }
            linkTarget = try target.string("'target'")
            try Self.validateQualifiedName(linkTarget!, at: target.location)
            if !dependencies.isEmpty || !sources.isEmpty { throw yaml.error("a link element has no dependencies and no sources") }
        case .junction:
            let fields = try config.keyed("config of a junction element", allowed: ["path", "options", "aliases", "overrides", "map-aliases"])
            if let overrides = fields["overrides"], !(try overrides.mapping("'overrides'")).isEmpty {
                throw overrides.error("junction 'overrides' are not supported by lazycas")
            }
            var options: [(String, String)] = []
            for (option, value) in try fields["options"]?.mapping("'options'") ?? [] {
                options.append((option, value.isSequence ? try value.strings("'\(option)'").joined(separator: ",") : try value.string("'\(option)'")))
            }
            let path = try fields["path"]?.string("'path'") ?? ""
            guard !path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                throw fields["path"]!.error("junction path '\(path)' must stay inside the junction's sources")
            }
            junction = JunctionConfiguration(path: path, options: options, aliases: try fields["aliases"]?.stringMap("'aliases'") ?? [:])
            guard !sources.isEmpty else { throw yaml.error("a junction element needs a source holding the subproject") }
            if !dependencies.isEmpty { throw yaml.error("a junction element cannot have dependencies") }
        case .script:
            let fields = try config.keyed("config of a script element", allowed: ["commands", "root-read-only"])
            commands = try fields["commands"]?.strings("'commands'") ?? []
            _ = try fields["root-read-only"]?.bool("'root-read-only'")
            let cwd = try variables.values["cwd"].map { text throws(ProjectError) in try variables.expand(text, in: context) } ?? "/"
            workingDirectory = cwd.isEmpty ? "/" : cwd
        default:
            let steps = try config.keyed("config of a \(kindName) element", allowed: Set(Self.commandSteps))
            for step in Self.commandSteps {
                for command in try steps[step]?.strings("'\(step)'") ?? [] where !command.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    commands.append(command)
                }
            }
        }
        self.workingDirectory = workingDirectory
        self.linkTarget = linkTarget
        self.junction = junction
        self.selection = selection
        self.integrate = integrate
        self.passIntegration = passIntegration
        self.commands = commands
        self.importSource = importSource
        self.importTarget = importTarget
    }

    private static func parseDependencies(_ keys: [String: YAMLNode], file: String, configurable: Bool) throws(ProjectError) -> [Dependency] {
        var result: [Dependency] = []
        for (key, build, runtime) in [("depends", true, true), ("build-depends", true, false), ("runtime-depends", false, true)] {
            for item in try keys[key]?.sequence("'\(key)'") ?? [] {
                var dep = Dependency(name: "", build: build, runtime: runtime, location: item.location)
                if case .scalar = item.value {
                    dep.name = try item.string("a dependency")
                } else {
                    var allowed: Set<String> = ["filename", "strict", "config", "junction"]
                    if key == "depends" { allowed.insert("type") }
                    let fields = try item.keyed("a dependency", allowed: allowed)
                    guard let filename = fields["filename"] else { throw item.error("a dependency mapping needs 'filename'") }
                    dep.name = try filename.string("'filename'")
                    if let junction = fields["junction"] { dep.name = try junction.string("'junction'") + ":" + dep.name }
                    if let typeNode = fields["type"] {
                        switch try typeNode.string("'type'") {
                        case "build": dep.runtime = false
                        case "runtime": dep.build = false
                        case "all": break
                        case let other: throw typeNode.error("dependency type '\(other)' is not 'build', 'runtime' or 'all'")
                        }
                    }
                    if let strict = fields["strict"] {
                        guard try strict.bool("'strict'") else { throw strict.error("setting 'strict' to false is unsupported") }
                        if !dep.build { throw strict.error("only build dependencies may be strict") }
                    }
                    if let config = fields["config"], !config.isNull {
                        guard dep.build else { throw config.error("specifying 'config' for a runtime dependency is not allowed") }
                        guard configurable else { throw config.error("this element kind takes no dependency 'config'") }
                        let options = try config.keyed("dependency config", allowed: ["location", "digest-environment"])
                        if let digest = options["digest-environment"] { throw digest.error("'digest-environment' is not supported by lazycas") }
                        dep.stagingLocation = try options["location"]?.string("'location'") ?? "/"
                        guard dep.stagingLocation.hasPrefix("/") else {
                            throw options["location"]!.error("location '\(dep.stagingLocation)' must be an absolute path in the sandbox")
                        }
                    }
                }
                try validateQualifiedName(dep.name, at: dep.location)
                if let same = result.firstIndex(where: { $0.name == dep.name }) {
                    // Declared twice (say, in build-depends and runtime-depends): one dependency of both kinds.
                    result[same].build = result[same].build || dep.build
                    result[same].runtime = result[same].runtime || dep.runtime
                } else {
                    result.append(dep)
                }
            }
        }
        return result
    }
}
