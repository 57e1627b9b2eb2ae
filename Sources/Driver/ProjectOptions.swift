import Foundation
import Glibc

/// A project's `options:` — declared in `project.conf`, set by the user (`-o NAME VALUE`) or by
/// a junction, and applied to every file of the project through `(?)` conditionals and the
/// variables they export — as BuildStream's option pool does.
///
/// Types: `bool`, `enum` (`values`), `flags` (a subset of `values`), `arch` and `os` (default:
/// the host's, canonical names as BuildStream spells them) and `element-mask` (a subset of the
/// project's `.bst` files). A value outside what is declared is an error naming the option and
/// the valid values.
struct ProjectOptions: Sendable {
    /// One declared option.
    struct Option: Sendable {
        enum Kind: String, Sendable { case bool, `enum`, flags, arch, os, elementMask = "element-mask" }
        var name: String
        var kind: Kind
        /// The variable it exports, if any.
        var variable: String?
        /// Valid values (enum, flags, arch, os, element-mask).
        var values: [String]
        var bool = false
        var string = ""
        var list: [String] = []
        var location: String

        /// The value as a condition sees it.
        var expressionValue: OptionExpression.Value {
            switch kind {
            case .bool: .bool(bool)
            case .enum, .arch, .os: .string(string)
            case .flags, .elementMask: .list(list.map { .string($0) })
            }
        }

        /// The value as the variable it exports holds it (`1`/`0` for a bool, comma-separated flags).
        var variableValue: String {
            switch kind {
            case .bool: bool ? "1" : "0"
            case .enum, .arch, .os: string
            case .flags, .elementMask: list.joined(separator: ",")
            }
        }

        /// Sets the value from text (the command line, a junction's `options:`).
        mutating func set(_ text: String, from origin: String) throws(ProjectError) {
            switch kind {
            case .bool:
                switch text {
                case "true", "True", "1": bool = true
                case "false", "False", "0": bool = false
                default: throw ProjectError("\(origin): invalid value for boolean option '\(name)': \(text) (true or false)")
                }
            case .enum, .arch, .os:
                guard values.contains(text) else {
                    throw ProjectError("\(origin): invalid value for \(kind.rawValue) option '\(name)': \(text) (valid: \(values.joined(separator: ", ")))")
                }
                string = text
            case .flags, .elementMask:
                let flags = text.filter { !$0.isWhitespace }.split(separator: ",").map(String.init)
                try setList(flags, from: origin)
            }
        }

        mutating func setList(_ flags: [String], from origin: String) throws(ProjectError) {
            for flag in flags where !values.contains(flag) {
                throw ProjectError("\(origin): invalid value for \(kind.rawValue) option '\(name)': \(flag) (valid: \(values.joined(separator: ", ")))")
            }
            list = flags.sorted()
        }
    }

    private(set) var options: [String: Option] = [:]

    /// The host's architecture as BuildStream names it (`x86-64`, `aarch64`, …).
    static var hostArch: String {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return canonicalArch(machine) ?? machine
    }

    /// BuildStream's canonical spelling of an architecture name, or nil when it knows none.
    static func canonicalArch(_ name: String) -> String? {
        let aliases: [String: [String]] = [
            "aarch32": ["armv7l", "armv8l"], "aarch64": ["arm64", "armv8l"], "aarch64-be": ["arm64be", "armv8b"],
            "power-isa-be": ["powerpc", "powerpc64", "ppc", "ppc64", "ppc64be"], "power-isa-le": ["ppc64le"],
            "sparc-v9": ["sparc64", "sparcv9"], "x86-32": ["i386", "i486", "i586", "i686", "x86"],
            "x86-64": ["amd64", "x86_64", "x64"], "riscv64": [], "loongarch64": [],
        ]
        if aliases[name] != nil { return name }
        return aliases.first(where: { $0.value.contains(name) })?.key
    }

    /// Reads the `options:` declarations of `project.conf`.
    init(declarations node: YAMLNode?, elementDirectory: String) throws(ProjectError) {
        for (name, definition) in try node?.mapping("'options'") ?? [] {
            guard name.first.map({ $0.isLetter || $0 == "_" }) == true, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw definition.error("option name '\(name)' must be letters, digits and underscores")
            }
            let keys = try definition.keyed("option '\(name)'", allowed: ["type", "description", "variable", "default", "values"])
            guard let typeNode = keys["type"] else { throw definition.error("option '\(name)' has no 'type'") }
            guard let kind = Option.Kind(rawValue: try typeNode.string("'type'")) else {
                throw typeNode.error("option type '\(try typeNode.string("'type'"))' must be one of bool, enum, flags, arch, os, element-mask")
            }
            var option = Option(name: name, kind: kind, variable: try keys["variable"]?.string("'variable'"), values: [], location: definition.location)
            switch kind {
            case .bool:
                guard let value = keys["default"] else { throw definition.error("bool option '\(name)' has no 'default'") }
                option.bool = try value.bool("'default'")
            case .enum:
                option.values = try keys["values"]?.strings("'values'") ?? []
                guard let value = keys["default"] else { throw definition.error("enum option '\(name)' has no 'default'") }
                try option.set(try value.string("'default'"), from: value.location)
            case .flags:
                option.values = try keys["values"]?.strings("'values'") ?? []
                try option.setList(try keys["default"]?.strings("'default'") ?? [], from: keys["default"]?.location ?? definition.location)
            case .arch, .os:
                option.values = try keys["values"]?.strings("'values'") ?? []
                if let value = keys["default"] { throw value.error("\(kind.rawValue) option '\(name)' takes its default from the host") }
                if kind == .arch {
                    let host = Self.hostArch
                    option.string = option.values.first(where: { Self.canonicalArch($0) == host }) ?? host
                } else {
                    option.string = "Linux"
                }
            case .elementMask:
                option.values = Self.elementFiles(under: elementDirectory)
                try option.setList(try keys["default"]?.strings("'default'") ?? [], from: keys["default"]?.location ?? definition.location)
            }
            if kind != .bool, kind != .elementMask, option.values.isEmpty {
                throw definition.error("no values specified for \(kind.rawValue) option '\(name)'")
            }
            options[name] = option
        }
    }

    private static func elementFiles(under directory: String) -> [String] {
        let files = FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String } ?? []
        return files.filter { $0.hasSuffix(".bst") }.sorted()
    }

    /// Applies values set from outside the file (the command line).
    mutating func set(_ values: [(String, String)], from origin: String) throws(ProjectError) {
        for (name, value) in values {
            guard options[name] != nil else {
                let known = options.keys.sorted()
                throw ProjectError("\(origin): unknown option '\(name)' (this project declares \(known.isEmpty ? "no options" : known.joined(separator: ", ")))")
            }
            try options[name]!.set(value, from: origin)
        }
    }

    /// The variables the options export (`variable:`), to be composed over the project's.
    var exportedVariables: [String: String] {
        var result: [String: String] = [:]
        for option in options.values { if let variable = option.variable { result[variable] = option.variableValue } }
        return result
    }

    /// Every option's value, as `lazycas show` and cache keys list them.
    var summary: [String: String] {
        options.mapValues(\.variableValue)
    }

    // MARK: Conditionals

    /// Resolves every `(?)` in `node` (and refuses an `(!)`): each condition true composes its
    /// mapping onto the mapping holding the `(?)`.
    /// - Parameter restricted: keys a conditional may not set (`name`, `element-path`, … in `project.conf`).
    func process(_ node: inout YAMLNode, restricted: Set<String> = []) throws(ProjectError) {
        while try processOne(&node, restricted: restricted) {}
        switch node.value {
        case .scalar: return
        case .sequence(var items):
            for index in items.indices { try process(&items[index]) }
            node.value = .sequence(items)
        case .mapping(var entries):
            for index in entries.indices { try process(&entries[index].value) }
            node.value = .mapping(entries)
        }
    }

    private func processOne(_ node: inout YAMLNode, restricted: Set<String>) throws(ProjectError) -> Bool {
        guard node.isMapping else { return false }
        if let assertion = node["(!)"] {
            throw assertion.error(try assertion.string("'(!)'").trimmingCharacters(in: .whitespacesAndNewlines))
        }
        guard let conditions = node["(?)"] else { return false }
        node["(?)"] = nil
        let variables = options.mapValues(\.expressionValue)
        for condition in try conditions.sequence("'(?)'") {
            let entries = try condition.mapping("a condition")
            guard entries.count == 1, let (expression, fragment) = entries.first else {
                throw condition.error("a condition must have exactly one key (the expression)")
            }
            let holds: Bool
            do {
                holds = try OptionExpression.evaluate(expression, variables: variables)
            } catch {
                throw condition.error(error.message)
            }
            guard fragment.isMapping else { throw fragment.error("the value of a condition must be a mapping") }
            if let key = fragment.keys.first(where: restricted.contains) {
                throw fragment[key]!.error("'\(key)' cannot be set conditionally")
            }
            if holds { try fragment.composite(onto: &node) }
        }
        return true
    }
}
