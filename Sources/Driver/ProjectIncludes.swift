import Foundation

/// BuildStream's `(@)` includes: a mapping naming one file or a list of files (relative to the
/// project root) takes them as its base, composed under it, so what the including file says
/// wins. Included files may include others; a file including itself, directly or through
/// others, is an error naming it.
struct ProjectIncludes {
    let projectRoot: String

    /// Resolves every `(@)` in `node`.
    /// - Parameter options: applied to each included file's conditionals first (element files'
    ///   includes); nil for `project.conf`'s, whose conditionals are resolved once composed.
    func process(_ node: inout YAMLNode, options: ProjectOptions?, including: [String] = []) throws(ProjectError) {
        if node.isMapping, let includes = node["(@)"] {
            node["(@)"] = nil
            let names: [YAMLNode] = includes.isSequence ? try includes.sequence("'(@)'") : [includes]
            for include in names.reversed() {
                let name = try include.string("an include")
                guard !name.contains(":") else {
                    throw include.error("include '\(name)' is from a junction, which lazycas does not support in includes yet")
                }
                guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
                    throw include.error("include '\(name)' must be a path inside the project")
                }
                let path = URL(fileURLWithPath: projectRoot + "/" + name).standardizedFileURL.path
                guard !including.contains(path) else {
                    throw include.error("'\(name)' includes itself (\((including + [path]).map { String($0.dropFirst(projectRoot.count + 1)) }.joined(separator: " -> ")))")
                }
                guard FileManager.default.fileExists(atPath: path) else {
                    throw include.error("included file '\(name)' does not exist")
                }
                var included = try YAMLNode.load(path: path, shownAs: name)
                guard included.isMapping || included.isNull else { throw included.error("an included file must be a mapping") }
                if included.isNull { included = .emptyMapping(at: name) }
                try options?.process(&included)
                try process(&included, options: options, including: including + [path])
                try included.compositeUnder(&node)
            }
        }
        switch node.value {
        case .scalar: return
        case .sequence(var items):
            for index in items.indices { try process(&items[index], options: options, including: including) }
            node.value = .sequence(items)
        case .mapping(var entries):
            for index in entries.indices { try process(&entries[index].value, options: options, including: including) }
            node.value = .mapping(entries)
        }
    }
}
