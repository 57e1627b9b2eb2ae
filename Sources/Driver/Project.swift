import Foundation
import LocalCAS

/// A BuildStream-format project: `project.conf` and the directory its elements live in.
///
/// The keys lazycas understands are BuildStream's (`name`, `min-version`, `element-path`,
/// `variables`, `environment`), with BuildStream's default variables and environment under
/// them, so a project builds the same way with either tool. Keys BuildStream has but lazycas
/// does not implement are refused by name rather than silently ignored.
public struct Project: Sendable {
    /// The directory holding `project.conf` (absolute).
    public let root: String
    public let name: String
    /// Where element names are resolved (absolute).
    public let elementDirectory: String
    /// BuildStream's defaults, then `project.conf`'s `variables`.
    let variables: Variables
    /// BuildStream's default environment, then `project.conf`'s `environment` (unexpanded).
    let environment: [String: String]

    /// BuildStream's default variables (its `projectconfig.yaml`).
    static let defaultVariables: [String: String] = [
        "prefix": "/usr", "exec_prefix": "%{prefix}", "bindir": "%{exec_prefix}/bin",
        "sbindir": "%{exec_prefix}/sbin", "libexecdir": "%{exec_prefix}/libexec",
        "datadir": "%{prefix}/share", "sysconfdir": "/etc", "sharedstatedir": "%{prefix}/com",
        "localstatedir": "/var", "lib": "lib", "libdir": "%{prefix}/%{lib}",
        "debugdir": "%{libdir}/debug", "includedir": "%{prefix}/include", "docdir": "%{datadir}/doc",
        "infodir": "%{datadir}/info", "mandir": "%{datadir}/man",
        "build-root": "/buildstream/%{project-name}/%{element-name}", "conf-root": ".",
        "install-root": "/buildstream-install", "strip-binaries": "", "max-jobs": "4",
    ]

    /// BuildStream's default build environment.
    static let defaultEnvironment: [String: String] = [
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "SHELL": "/bin/sh", "TERM": "dumb",
        "USER": "tomjon", "USERNAME": "tomjon", "LOGNAME": "tomjon", "LC_ALL": "C",
        "HOME": "/tmp", "TZ": "UTC", "SOURCE_DATE_EPOCH": "1321009871",
    ]

    /// Keys of `project.conf` that lazycas reads, and BuildStream keys it accepts and ignores
    /// because they do not change what is built.
    static let understoodKeys: Set<String> = ["name", "min-version", "element-path", "variables", "environment"]
    static let ignoredKeys: Set<String> = ["ref-storage", "aliases", "source-provenance-attributes", "fatal-warnings"]

    /// Finds the project containing `directory`: the nearest `project.conf` at or above it.
    /// - Throws: `.invalidArgument` if there is none.
    public static func locate(from directory: String) throws(ProjectError) -> Project {
        var url = URL(fileURLWithPath: directory).standardizedFileURL
        while true {
            if FileManager.default.fileExists(atPath: url.path + "/project.conf") {
                return try Project(root: url.path)
            }
            if url.path == "/" { break }
            url.deleteLastPathComponent()
        }
        throw ProjectError("no project.conf in \(directory) or any directory above it")
    }

    /// Loads `ROOT/project.conf`.
    public init(root: String) throws(ProjectError) {
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
        let yaml = try YAMLNode.load(path: self.root + "/project.conf", shownAs: "project.conf")
        let keys = try yaml.keyed("project.conf", allowed: Self.understoodKeys.union(Self.ignoredKeys))
        guard let nameNode = keys["name"] else { throw yaml.error("project.conf has no 'name'") }
        name = try nameNode.string("'name'")
        do {
            try RefStore.validate(name)
        } catch {
            throw nameNode.error("project name '\(name)' must be letters, digits and ._+-@= (it names artifact refs)")
        }
        guard !name.contains("/") else { throw nameNode.error("project name '\(name)' must not contain '/'") }
        guard let minVersion = keys["min-version"] else {
            throw yaml.error("project.conf has no 'min-version' (BuildStream 2 needs one, e.g. 'min-version: 2.0')")
        }
        let version = try minVersion.string("'min-version'")
        guard let major = version.split(separator: ".").first.flatMap({ Int($0) }), major == 2 else {
            throw minVersion.error("min-version '\(version)' is not a BuildStream 2 version (2.x)")
        }
        let elementPath = try keys["element-path"]?.string("'element-path'") ?? "."
        guard !elementPath.hasPrefix("/"), !elementPath.split(separator: "/").contains("..") else {
            throw keys["element-path"]!.error("element-path '\(elementPath)' must be a path inside the project")
        }
        elementDirectory = URL(fileURLWithPath: self.root + "/" + elementPath).standardizedFileURL.path
        var variables = Self.defaultVariables
        for (key, value) in try keys["variables"]?.stringMap("'variables'") ?? [:] { variables[key] = value }
        variables["project-name"] = name
        self.variables = Variables(variables)
        environment = Self.defaultEnvironment.merging(try keys["environment"]?.stringMap("'environment'") ?? [:]) { _, new in new }
    }

    /// The path of element `name` relative to the project root, as messages show it.
    func displayPath(of element: String) -> String {
        let relative = elementDirectory == root ? "" : String(elementDirectory.dropFirst(root.count + 1)) + "/"
        return relative + element
    }
}
