import Foundation

/// Asks `bst` itself which artifact an element stands for now: `bst show` with a format string
/// gives each element's current cache key (lazycas cannot compute BuildStream's keys: they hash
/// BuildStream's own view of plugins, sources and dependencies).
public struct BuildStreamShow: Sendable {
    /// The `bst` program.
    public let executable: String
    /// `bst --config FILE`, when the user named one.
    public let configFile: String?
    /// The project directory (`bst --directory`).
    public let projectDirectory: String

    /// One element of `bst show`'s answer.
    public struct Entry: Sendable, Equatable {
        /// As bst names it (`junction.bst:element.bst` across a junction).
        public var name: String
        /// The full strong key, or nil when bst cannot compute it (sources without a ref).
        public var key: String?
        /// `cached`, `failed`, `buildable`, `waiting`, `fetch needed`, `no reference`, …
        public var state: String
    }

    public init(executable: String, configFile: String?, projectDirectory: String) {
        self.executable = executable
        self.configFile = configFile
        self.projectDirectory = projectDirectory
    }

    /// `explicit` (`--bst PATH`), else `bst` on PATH; nil if there is none.
    public static func locate(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let explicit { return explicit }
        for directory in (environment["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(directory)/bst"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// `element` and, with `runtime`, everything it needs at run time, in staging order
    /// (`bst show --deps run|none`).
    /// - Throws: ``ProjectError`` with bst's own message when it fails (no such element, a
    ///   broken project).
    public func entries(of element: String, runtime: Bool) throws(ProjectError) -> [Entry] {
        let separator = "\u{1F}"
        var arguments = ["--no-interactive", "--no-colors"]
        if let configFile { arguments += ["--config", configFile] }
        arguments += ["--directory", projectDirectory, "show", "--deps", runtime ? "run" : "none",
                      "--format", ["%{name}", "%{full-key}", "%{state}"].joined(separator: separator), element]
        let (status, output, errors) = HostTool.runApart([executable] + arguments)
        guard status == 0 else {
            let said = errors.split(separator: "\n").filter { !$0.hasPrefix("[--:--:--]") || $0.contains("ERROR") || $0.contains("FAILURE") }
            throw ProjectError("bst show \(element) failed (exit \(status)): \(said.suffix(6).joined(separator: "\n"))")
        }
        return output.split(separator: "\n").compactMap { line in
            let fields = line.components(separatedBy: separator)
            guard fields.count == 3 else { return nil }
            let key = fields[1].trimmingCharacters(in: .whitespaces)
            return Entry(name: fields[0].trimmingCharacters(in: .whitespaces),
                         key: BuildStreamArtifactName.isKey(key) ? key : nil,
                         state: fields[2].trimmingCharacters(in: .whitespaces))
        }
    }
}
