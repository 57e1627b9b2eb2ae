import Foundation
import LocalCAS

/// One `.bst` element file, parsed, checked and with its variables expanded.
public struct ElementDefinition: Sendable {
    /// The element kinds lazycas builds.
    public enum Kind: String, Sendable {
        /// Its sources are its artifact.
        case `import`
        /// Commands run in one remote action; the artifact is what they put in `%{install-root}`.
        case manual
        /// No content: a name for its dependencies.
        case stack
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
    }

    /// A `kind: local` source: a file or directory of the project, staged under `directory`.
    public struct Source: Sendable {
        /// Absolute path.
        public var path: String
        /// Where it goes, relative to the staging point (`%{build-root}`, or the artifact root for imports).
        public var directory: String
        public var location: String
    }

    /// The name, relative to the project's element path (`hello.bst`).
    public let name: String
    /// Path relative to the project root, for messages (`elements/hello.bst`).
    public let file: String
    public let kind: Kind
    public let dependencies: [Dependency]
    public let sources: [Source]
    /// The build environment, expanded.
    public let environment: [String: String]
    /// `manual`: the configure, build, install and strip commands in the order they run, expanded.
    public let commands: [String]
    /// Expanded `build-root` and `install-root` (absolute paths in the sandbox).
    public let buildRoot: String
    public let installRoot: String
    /// `import`: the part of the sources that becomes the artifact, and where it is placed.
    public let importSource: String
    public let importTarget: String

    static let knownKeys: Set<String> = [
        "kind", "description", "depends", "build-depends", "runtime-depends", "sources", "variables",
        "environment", "environment-nocache", "config", "public", "sandbox",
    ]
    /// BuildStream's other core kinds, refused by name.
    static let unsupportedKinds: Set<String> = ["compose", "filter", "script", "junction", "link", "autotools", "cmake", "make"]
    static let commandSteps = ["configure-commands", "build-commands", "install-commands", "strip-commands"]

    /// BuildStream's name for an element in paths and variables: `hello.bst` → `hello`,
    /// `core/hello.bst` → `core-hello`.
    public static func normalName(_ name: String) -> String {
        String(name.dropLast(name.hasSuffix(".bst") ? 4 : 0)).replacingOccurrences(of: "/", with: "-")
    }

    /// Checks an element name: a relative `.bst` path that stays inside the element path.
    static func validateName(_ name: String, at location: String) throws(ProjectError) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard name.hasSuffix(".bst"), !name.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            throw ProjectError("\(location): '\(name)' is not an element name (a relative path ending in .bst)")
        }
    }

    /// Parses element `name` of `project`.
    /// - Throws: `.invalidArgument` with `FILE:LINE:COL` for anything wrong in the file.
    init(name: String, project: Project) throws(ProjectError) {
        self.name = name
        file = project.displayPath(of: name)
        let path = project.elementDirectory + "/" + name
        let yaml = try YAMLNode.load(path: path, shownAs: file)
        let keys = try yaml.keyed(file, allowed: Self.knownKeys)

        guard let kindNode = keys["kind"] else { throw yaml.error("element has no 'kind'") }
        let kindName = try kindNode.string("'kind'")
        guard let kind = Kind(rawValue: kindName) else {
            let why = Self.unsupportedKinds.contains(kindName) ? "is not supported by lazycas" : "is unknown"
            throw kindNode.error("element kind '\(kindName)' \(why) (supported: import, manual, stack)")
        }
        self.kind = kind

        var variables = project.variables.overridden(by: try keys["variables"]?.stringMap("'variables'") ?? [:])
        variables = variables.overridden(by: ["element-name": Self.normalName(name)])
        let context = file
        var environment: [String: String] = [:]
        for (name, value) in project.environment.merging(try keys["environment"]?.stringMap("'environment'") ?? [:], uniquingKeysWith: { _, new in new }) {
            environment[name] = try variables.expand(value, in: context)
        }
        self.environment = environment
        buildRoot = try variables.value("build-root", in: context)
        installRoot = try variables.value("install-root", in: context)
        for (label, value) in [("build-root", buildRoot), ("install-root", installRoot)] where !value.hasPrefix("/") || value == "/" {
            throw yaml.error("%{\(label)} must be an absolute path other than '/', got '\(value)'")
        }

        dependencies = try Self.parseDependencies(keys, file: file)
        sources = try Self.parseSources(keys["sources"], project: project)

        let config = try keys["config"]?.mapping("'config'") ?? []
        var commands: [String] = []
        var importSource = "/", importTarget = "/"
        switch kind {
        case .manual:
            var steps: [String: [String]] = ["strip-commands": ["%{strip-binaries}"]]
            for (key, value) in config {
                guard Self.commandSteps.contains(key) else {
                    throw value.error("unknown key '\(key)' in config of a manual element (expected one of: \(Self.commandSteps.joined(separator: ", ")))")
                }
                steps[key] = try value.strings("'\(key)'")
            }
            for step in Self.commandSteps {
                for command in steps[step] ?? [] {
                    let expanded = try variables.expand(command, in: context)
                    if !expanded.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { commands.append(expanded) }
                }
            }
        case .import:
            for (key, value) in config {
                switch key {
                case "source": importSource = try variables.expand(try value.string("'source'"), in: context)
                case "target": importTarget = try variables.expand(try value.string("'target'"), in: context)
                default: throw value.error("unknown key '\(key)' in config of an import element (expected source, target)")
                }
            }
            guard !sources.isEmpty else { throw yaml.error("an import element must have at least one source") }
        case .stack:
            if let first = config.first { throw first.value.error("a stack element takes no config") }
            if let node = keys["sources"], !(try node.sequence("'sources'")).isEmpty {
                throw node.error("a stack element cannot have sources")
            }
            if let dep = dependencies.first(where: { !($0.build && $0.runtime) }) {
                throw ProjectError("\(dep.location): every dependency of a stack element must be in 'depends' with no type ('\(dep.name)' is not)")
            }
        }
        self.commands = commands
        self.importSource = importSource
        self.importTarget = importTarget
    }

    private static func parseDependencies(_ keys: [String: YAMLNode], file: String) throws(ProjectError) -> [Dependency] {
        var result: [Dependency] = []
        for (key, build, runtime) in [("depends", true, true), ("build-depends", true, false), ("runtime-depends", false, true)] {
            for item in try keys[key]?.sequence("'\(key)'") ?? [] {
                var dep = Dependency(name: "", build: build, runtime: runtime, location: item.location)
                if case .scalar = item.node {
                    dep.name = try item.string("a dependency")
                } else {
                    let fields = try item.keyed("a dependency", allowed: ["filename", "type", "strict", "config", "junction"])
                    if let junction = fields["junction"] { throw junction.error("junctions are not supported by lazycas") }
                    guard let filename = fields["filename"] else { throw item.error("a dependency mapping needs 'filename'") }
                    dep.name = try filename.string("'filename'")
                    if let typeNode = fields["type"] {
                        guard key == "depends" else { throw typeNode.error("'type' is only allowed in 'depends', not in '\(key)'") }
                        switch try typeNode.string("'type'") {
                        case "build": dep.runtime = false
                        case "runtime": dep.build = false
                        case "all": break
                        case let other: throw typeNode.error("dependency type '\(other)' must be build, runtime or all")
                        }
                    }
                }
                try validateName(dep.name, at: dep.location)
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

    private static func parseSources(_ node: YAMLNode?, project: Project) throws(ProjectError) -> [Source] {
        var result: [Source] = []
        for item in try node?.sequence("'sources'") ?? [] {
            let fields = try item.keyed("a source", allowed: ["kind", "path", "directory"])
            guard let kindNode = fields["kind"] else { throw item.error("a source needs a 'kind'") }
            let kind = try kindNode.string("'kind'")
            guard kind == "local" else {
                throw kindNode.error("source kind '\(kind)' is not supported by lazycas (only 'local')")
            }
            guard let pathNode = fields["path"] else { throw item.error("a local source needs a 'path'") }
            let relative = try pathNode.string("'path'")
            guard !relative.hasPrefix("/"), !relative.split(separator: "/").contains("..") else {
                throw pathNode.error("source path '\(relative)' must be relative to the project and stay inside it")
            }
            let absolute = URL(fileURLWithPath: project.root + "/" + relative).standardizedFileURL.path
            guard FileManager.default.fileExists(atPath: absolute) else {
                throw pathNode.error("source path '\(relative)' does not exist (\(absolute))")
            }
            let directory = try fields["directory"]?.string("'directory'") ?? ""
            do {
                _ = try TreeComposer.components(of: directory)
            } catch {
                throw fields["directory"]!.error(error.message)
            }
            guard !directory.split(separator: "/").contains("..") else {
                throw fields["directory"]!.error("source directory '\(directory)' must not contain '..'")
            }
            result.append(Source(path: absolute, directory: directory, location: pathNode.location))
        }
        return result
    }
}
