import LocalCAS

/// BuildStream-style variables: `%{name}` references expanded recursively, with an error for
/// an undefined name or a reference cycle that says which element and variable.
struct Variables: Sendable {
    private(set) var values: [String: String]

    init(_ values: [String: String] = [:]) {
        self.values = values
    }

    /// Adds `other` over these (later definitions win, as in BuildStream's composition).
    func overridden(by other: [String: String]) -> Variables {
        Variables(values.merging(other) { _, new in new })
    }

    /// `text` with every `%{name}` replaced by the expanded value of `name`.
    /// - Parameter context: where `text` comes from, for messages (`elements/hello.bst`).
    func expand(_ text: String, in context: String) throws(ProjectError) -> String {
        try expand(text, context: context, stack: [])
    }

    /// The value of `name`, expanded.
    func value(_ name: String, in context: String) throws(ProjectError) -> String {
        try resolve(name, context: context, stack: [])
    }

    private func resolve(_ name: String, context: String, stack: [String]) throws(ProjectError) -> String {
        guard let raw = values[name] else {
            let via = stack.isEmpty ? "" : " (referenced by '\(stack.last!)')"
            throw ProjectError("\(context): undefined variable '\(name)'\(via)")
        }
        if stack.contains(name) {
            throw ProjectError("\(context): variable cycle: \((stack + [name]).joined(separator: " -> "))")
        }
        return try expand(raw, context: context, stack: stack + [name])
    }

    private func expand(_ text: String, context: String, stack: [String]) throws(ProjectError) -> String {
        guard text.contains("%{") else { return text }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "%{") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw ProjectError("\(context): unterminated '%{' in '\(text)'")
            }
            let name = String(rest[start.upperBound..<end])
            result += try resolve(name, context: context, stack: stack)
            rest = rest[rest.index(after: end)...]
        }
        return result + rest
    }
}
