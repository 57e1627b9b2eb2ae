import Foundation
import LocalCAS
import Yams

/// A node of a parsed project or element file that remembers where it came from, so every
/// error says `FILE:LINE:COLUMN: what is wrong`.
///
/// Unlike Yams' `Node` this is an owned value that BuildStream's composition rewrites in
/// place (``composite(onto:)``, `(?)` conditionals, `(@)` includes): the tree a project's
/// defaults, plugins' defaults, `project.conf` and an element file compose into, with each
/// value keeping the location it was written at.
struct YAMLNode: Sendable {
    /// One key of a mapping; mappings keep file order.
    struct Entry: Sendable {
        var key: String
        var value: YAMLNode
    }

    enum Value: Sendable {
        /// A scalar's text; `plain` when it was written unquoted (only those can be null).
        case scalar(String, plain: Bool)
        case mapping([Entry])
        case sequence([YAMLNode])
    }

    var value: Value
    /// `FILE:LINE:COL`, or the file alone for a node made here.
    var location: String

    /// The file part of ``location``.
    var file: String {
        location.split(separator: ":").first.map(String.init) ?? location
    }

    init(_ value: Value, at location: String) {
        self.value = value
        self.location = location
    }

    /// An empty mapping made here (no file behind it).
    static func emptyMapping(at location: String) -> YAMLNode {
        YAMLNode(.mapping([]), at: location)
    }

    /// Parses `path` (shown in messages as `file`).
    /// - Throws: a ``ProjectError`` naming the file and line of a syntax error.
    static func load(path: String, shownAs file: String) throws(ProjectError) -> YAMLNode {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProjectError("\(file): cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self), shownAs: file)
    }

    /// Parses `text` (shown in messages as `file`).
    static func parse(_ text: String, shownAs file: String) throws(ProjectError) -> YAMLNode {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ProjectError("\(file):\(Self.firstLine(of: error.description))")
        } catch {
            throw ProjectError("\(file): \(error)")
        }
        guard let node else { return .emptyMapping(at: file) }
        return try YAMLNode(node, file: file)
    }

    private init(_ node: Node, file: String) throws(ProjectError) {
        let location = node.mark.map { "\(file):\($0.line):\($0.column)" } ?? file
        switch node {
        case .scalar(let scalar):
            // BuildStream strips every scalar (a block scalar's leading blank lines and final
            // newline too): commands and values compare and run as it has them.
            self.init(.scalar(scalar.string.trimmingCharacters(in: .whitespacesAndNewlines), plain: scalar.style == .plain), at: location)
        case .sequence(let sequence):
            var items: [YAMLNode] = []
            for item in sequence { items.append(try YAMLNode(item, file: file)) }
            self.init(.sequence(items), at: location)
        case .mapping(let mapping):
            var entries: [Entry] = []
            for (key, value) in mapping {
                guard let name = key.string else {
                    throw ProjectError("\(location): keys must be strings")
                }
                if entries.contains(where: { $0.key == name }) {
                    let at = key.mark.map { "\(file):\($0.line):\($0.column)" } ?? location
                    throw ProjectError("\(at): duplicate key '\(name)'")
                }
                entries.append(Entry(key: name, value: try YAMLNode(value, file: file)))
            }
            self.init(.mapping(entries), at: location)
        case .alias:
            throw ProjectError("\(location): YAML aliases are not allowed")
        }
    }

    /// Yams describes errors as `LINE:COL: error: …` followed by a snippet; keep the first line.
    private static func firstLine(of description: String) -> String {
        description.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? description
    }

    func error(_ message: String) -> ProjectError {
        ProjectError("\(location): \(message)")
    }

    // MARK: Mapping access

    var isMapping: Bool {
        if case .mapping = value { true } else { false }
    }

    var isSequence: Bool {
        if case .sequence = value { true } else { false }
    }

    /// The value at `key` of a mapping (nil when absent or when this is not a mapping).
    subscript(key: String) -> YAMLNode? {
        get {
            guard case .mapping(let entries) = value else { return nil }
            return entries.first(where: { $0.key == key })?.value
        }
        set {
            guard case .mapping(var entries) = value else { return }
            if let index = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
            } else if let newValue {
                entries.append(Entry(key: key, value: newValue))
            }
            value = .mapping(entries)
        }
    }

    /// A mapping's keys, in file order.
    var keys: [String] {
        guard case .mapping(let entries) = value else { return [] }
        return entries.map(\.key)
    }

    // MARK: Typed access

    /// The entries of a mapping, in file order.
    func mapping(_ what: String) throws(ProjectError) -> [(key: String, value: YAMLNode)] {
        if isNull { return [] }
        guard case .mapping(let entries) = value else { throw error("\(what) must be a mapping") }
        return entries.map { ($0.key, $0.value) }
    }

    /// The mapping, checked to hold only `allowed` keys.
    func keyed(_ what: String, allowed: Set<String>) throws(ProjectError) -> [String: YAMLNode] {
        var result: [String: YAMLNode] = [:]
        for (key, value) in try mapping(what) {
            guard allowed.contains(key) else {
                throw value.error("unknown key '\(key)' in \(what) (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            result[key] = value
        }
        return result
    }

    func sequence(_ what: String) throws(ProjectError) -> [YAMLNode] {
        if isNull { return [] }
        guard case .sequence(let items) = value else { throw error("\(what) must be a list") }
        return items
    }

    /// An empty value (`key:` with nothing after it, `~`, `null`).
    var isNull: Bool {
        guard case .scalar(let text, let plain) = value, plain else { return false }
        return text.isEmpty || text == "~" || text == "null"
    }

    func string(_ what: String) throws(ProjectError) -> String {
        guard case .scalar(let text, _) = value else { throw error("\(what) must be a string") }
        return text
    }

    /// A string, or nil for a null value.
    func optionalString(_ what: String) throws(ProjectError) -> String? {
        isNull ? nil : try string(what)
    }

    func strings(_ what: String) throws(ProjectError) -> [String] {
        try sequence(what).map { item throws(ProjectError) in try item.string("each entry of \(what)") }
    }

    /// A YAML boolean as BuildStream reads one (`true`/`false`, `True`/`False`, `yes`/`no`… are not).
    func bool(_ what: String) throws(ProjectError) -> Bool {
        switch try string(what) {
        case "true", "True": return true
        case "false", "False": return false
        case let other: throw error("\(what) must be true or false, not '\(other)'")
        }
    }

    /// A mapping of strings to strings (`variables`, `environment`); null values are left out.
    func stringMap(_ what: String) throws(ProjectError) -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in try mapping(what) where !value.isNull {
            result[key] = try value.string("'\(key)' in \(what)")
        }
        return result
    }

    /// Every scalar below this node, rewritten by `transform` (variable expansion).
    func mapScalars(_ transform: (String) throws(ProjectError) -> String) throws(ProjectError) -> YAMLNode {
        var copy = self
        switch value {
        case .scalar(let text, let plain):
            copy.value = .scalar(isNull ? text : try transform(text), plain: plain)
        case .sequence(let items):
            var mapped: [YAMLNode] = []
            for item in items { mapped.append(try item.mapScalars(transform)) }
            copy.value = .sequence(mapped)
        case .mapping(let entries):
            var mapped: [Entry] = []
            for entry in entries { mapped.append(Entry(key: entry.key, value: try entry.value.mapScalars(transform))) }
            copy.value = .mapping(mapped)
        }
        return copy
    }
}
