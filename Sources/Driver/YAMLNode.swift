import Foundation
import LocalCAS
import Yams

/// A node of a parsed YAML file that remembers where it came from, so every error about
/// project or element files says `FILE:LINE:COLUMN: what is wrong`.
///
/// Parsing uses Yams' composer (which keeps marks) rather than a decoder: element files are
/// small, and a message that points at the offending line is worth more than a decoder's
/// coding path.
struct YAMLNode {
    let node: Node
    /// The file, relative to the project root.
    let file: String

    /// Parses `path` (shown in messages as `file`).
    /// - Throws: `.invalidArgument` naming the file and line of a syntax error.
    static func load(path: String, shownAs file: String) throws(ProjectError) -> YAMLNode {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProjectError("\(file): cannot read the file")
        }
        let text = String(decoding: data, as: UTF8.self)
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ProjectError("\(file):\(Self.firstLine(of: error.description))")
        } catch {
            throw ProjectError("\(file): \(error)")
        }
        return YAMLNode(node: node ?? Node.mapping(Node.Mapping([])), file: file)
    }

    /// Yams describes errors as `LINE:COL: error: …` followed by a snippet; keep the first line.
    private static func firstLine(of description: String) -> String {
        description.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? description
    }

    /// `FILE:LINE:COL`.
    var location: String {
        guard let mark = node.mark else { return file }
        return "\(file):\(mark.line):\(mark.column)"
    }

    func error(_ message: String) -> ProjectError {
        ProjectError("\(location): \(message)")
    }

    // MARK: Typed access

    /// The entries of a mapping, in file order.
    func mapping(_ what: String) throws(ProjectError) -> [(key: String, value: YAMLNode)] {
        if isNull { return [] }
        guard case .mapping(let mapping) = node else { throw error("\(what) must be a mapping") }
        var result: [(String, YAMLNode)] = []
        for (key, value) in mapping {
            guard let name = key.string else { throw YAMLNode(node: key, file: file).error("keys of \(what) must be strings") }
            result.append((name, YAMLNode(node: value, file: file)))
        }
        return result
    }

    /// The mapping, checked to hold only `allowed` keys.
    func keyed(_ what: String, allowed: Set<String>) throws(ProjectError) -> [String: YAMLNode] {
        var result: [String: YAMLNode] = [:]
        for (key, value) in try mapping(what) {
            guard allowed.contains(key) else {
                throw YAMLNode(node: value.node, file: file)
                    .error("unknown key '\(key)' in \(what) (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            result[key] = value
        }
        return result
    }

    func sequence(_ what: String) throws(ProjectError) -> [YAMLNode] {
        if isNull { return [] }
        guard case .sequence(let sequence) = node else { throw error("\(what) must be a list") }
        return sequence.map { YAMLNode(node: $0, file: file) }
    }

    /// An empty value (`key:` with nothing after it, `~`, `null`).
    var isNull: Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null"
    }

    func string(_ what: String) throws(ProjectError) -> String {
        guard case .scalar(let scalar) = node else { throw error("\(what) must be a string") }
        return scalar.string
    }

    func strings(_ what: String) throws(ProjectError) -> [String] {
        try sequence(what).map { item throws(ProjectError) in try item.string("each entry of \(what)") }
    }

    /// A mapping of strings to strings (`variables`, `environment`).
    func stringMap(_ what: String) throws(ProjectError) -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in try mapping(what) {
            result[key] = try value.string("'\(key)' in \(what)")
        }
        return result
    }
}
