/// The condition of a `(?)` entry: the part of Jinja2's expression language BuildStream
/// conditions use — option names, string and number literals, `true`/`false`, lists,
/// `==` `!=` `<` `<=` `>` `>=`, `in` and `not in`, `and`, `or`, `not` and parentheses.
///
/// BuildStream hands the text to Jinja2 with the options' values as variables (a bool option
/// is a boolean, a flags or element-mask option a list of strings, the others strings); this
/// evaluates the same text to the same truth. An unknown name is an error, as with Jinja2's
/// `StrictUndefined`.
struct OptionExpression {
    /// A value of an expression.
    enum Value: Equatable {
        case bool(Bool)
        case string(String)
        case number(Double)
        case list([Value])

        var truthy: Bool {
            switch self {
            case .bool(let b): b
            case .string(let s): !s.isEmpty
            case .number(let n): n != 0
            case .list(let l): !l.isEmpty
            }
        }
    }

    private enum Token: Equatable {
        case name(String), string(String), number(Double), symbol(String), end
    }

    private var tokens: [Token]
    private var position = 0
    private let variables: [String: Value]
    private let text: String

    /// Evaluates `text` with `variables`.
    /// - Throws: a message (no location: the caller adds it) for a syntax error or unknown name.
    static func evaluate(_ text: String, variables: [String: Value]) throws(ProjectError) -> Bool {
        var parser = OptionExpression(tokens: try tokenize(text), variables: variables, text: text)
        let value = try parser.orExpression()
        guard parser.peek == .end else { throw parser.failure("unexpected \(parser.describe(parser.peek))") }
        return value.truthy
    }

    private init(tokens: [Token], variables: [String: Value], text: String) {
        self.tokens = tokens
        self.variables = variables
        self.text = text
    }

    private func failure(_ message: String) -> ProjectError {
        ProjectError("cannot evaluate condition '\(text)': \(message)")
    }

    private var peek: Token { tokens[position] }

    private mutating func next() -> Token {
        defer { position += 1 }
        return tokens[position]
    }

    private mutating func accept(_ token: Token) -> Bool {
        guard peek == token else { return false }
        position += 1
        return true
    }

    private func describe(_ token: Token) -> String {
        switch token {
        case .name(let n): "'\(n)'"
        case .string(let s): "\"\(s)\""
        case .number(let n): "\(n)"
        case .symbol(let s): "'\(s)'"
        case .end: "end of condition"
        }
    }

    private mutating func orExpression() throws(ProjectError) -> Value {
        var left = try andExpression()
        while accept(.name("or")) {
            let right = try andExpression()
            left = left.truthy ? left : right
        }
        return left
    }

    private mutating func andExpression() throws(ProjectError) -> Value {
        var left = try notExpression()
        while accept(.name("and")) {
            let right = try notExpression()
            left = left.truthy ? right : left
        }
        return left
    }

    private mutating func notExpression() throws(ProjectError) -> Value {
        if accept(.name("not")) { return .bool(!(try notExpression()).truthy) }
        return try comparison()
    }

    private mutating func comparison() throws(ProjectError) -> Value {
        let left = try primary()
        if case .symbol(let op) = peek, ["==", "!=", "<", "<=", ">", ">="].contains(op) {
            position += 1
            let right = try primary()
            switch op {
            case "==": return .bool(left == right)
            case "!=": return .bool(left != right)
            default: return .bool(try order(left, op, right))
            }
        }
        if accept(.name("in")) { return .bool(try contains(try primary(), left)) }
        if peek == .name("not"), tokens[position + 1] == .name("in") {
            position += 2
            return .bool(!(try contains(try primary(), left)))
        }
        return left
    }

    private func order(_ left: Value, _ op: String, _ right: Value) throws(ProjectError) -> Bool {
        let ascending: Bool, equal: Bool
        switch (left, right) {
        case (.number(let a), .number(let b)): (ascending, equal) = (a < b, a == b)
        case (.string(let a), .string(let b)): (ascending, equal) = (a < b, a == b)
        default: throw failure("'\(op)' compares two numbers or two strings")
        }
        switch op {
        case "<": return ascending
        case "<=": return ascending || equal
        case ">": return !ascending && !equal
        default: return !ascending
        }
    }

    private func contains(_ container: Value, _ item: Value) throws(ProjectError) -> Bool {
        switch (container, item) {
        case (.list(let list), _): return list.contains(item)
        case (.string(let s), .string(let part)): return s.contains(part)
        default: throw failure("'in' needs a list or a string on its right")
        }
    }

    private mutating func primary() throws(ProjectError) -> Value {
        switch next() {
        case .string(let s): return .string(s)
        case .number(let n): return .number(n)
        case .symbol("("):
            let value = try orExpression()
            guard accept(.symbol(")")) else { throw failure("missing ')'") }
            return value
        case .symbol("["):
            var items: [Value] = []
            if accept(.symbol("]")) { return .list(items) }
            repeat { items.append(try orExpression()) } while accept(.symbol(","))
            guard accept(.symbol("]")) else { throw failure("missing ']'") }
            return .list(items)
        case .name(let name):
            switch name {
            case "true", "True": return .bool(true)
            case "false", "False": return .bool(false)
            default:
                guard let value = variables[name] else {
                    throw failure("'\(name)' is not an option of this project (options: \(variables.keys.sorted().joined(separator: ", ")))")
                }
                return value
            }
        case let token:
            throw failure("unexpected \(describe(token))")
        }
    }

    private static func tokenize(_ text: String) throws(ProjectError) -> [Token] {
        var tokens: [Token] = []
        let chars = Array(text)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isWhitespace {
                i += 1
            } else if c == "\"" || c == "'" {
                var j = i + 1
                var s = ""
                while j < chars.count, chars[j] != c {
                    if chars[j] == "\\", j + 1 < chars.count { j += 1 }
                    s.append(chars[j])
                    j += 1
                }
                guard j < chars.count else { throw ProjectError("cannot evaluate condition '\(text)': unterminated string") }
                tokens.append(.string(s))
                i = j + 1
            } else if c.isNumber {
                var j = i
                while j < chars.count, chars[j].isNumber || chars[j] == "." { j += 1 }
                tokens.append(.number(Double(String(chars[i..<j])) ?? 0))
                i = j
            } else if c.isLetter || c == "_" {
                var j = i
                while j < chars.count, chars[j].isLetter || chars[j].isNumber || chars[j] == "_" { j += 1 }
                tokens.append(.name(String(chars[i..<j])))
                i = j
            } else if i + 1 < chars.count, ["==", "!=", "<=", ">="].contains(String(chars[i...i + 1])) {
                tokens.append(.symbol(String(chars[i...i + 1])))
                i += 2
            } else if "()[],<>".contains(c) {
                tokens.append(.symbol(String(c)))
                i += 1
            } else {
                throw ProjectError("cannot evaluate condition '\(text)': unexpected '\(c)'")
            }
        }
        tokens.append(.end)
        return tokens
    }
}
