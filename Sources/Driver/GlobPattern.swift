import Foundation

/// BuildStream's globs (split rules, `base-dir`): `*` matches within one path component, `**`
/// across components, `?` one character other than `/`, `[...]` a class (`[!...]` negated).
/// Paths are relative, without a leading `/`, as BuildStream matches them.
struct GlobPattern: Sendable {
    let pattern: String
    private let regex: NSRegularExpression?

    init(_ pattern: String) {
        self.pattern = pattern
        regex = try? NSRegularExpression(pattern: "^(?:" + Self.regex(pattern) + ")$", options: [.dotMatchesLineSeparators])
    }

    func matches(_ path: String) -> Bool {
        guard let regex else { return false }
        return regex.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil
    }

    /// The regular expression of a glob, as BuildStream's `_glob2re` writes it.
    static func regex(_ glob: String) -> String {
        let chars = Array(glob)
        var result = ""
        var i = 0
        while i < chars.count {
            let c = chars[i]
            i += 1
            switch c {
            case "*":
                if i < chars.count, chars[i] == "*" {
                    result += ".*"
                    i += 1
                } else {
                    result += "[^/]*"
                }
            case "?":
                result += "[^/]"
            case "[":
                var j = i
                if j < chars.count, chars[j] == "!" { j += 1 }
                if j < chars.count, chars[j] == "]" { j += 1 }
                while j < chars.count, chars[j] != "]" { j += 1 }
                if j >= chars.count {
                    result += "\\["
                } else {
                    var stuff = String(chars[i..<j]).replacingOccurrences(of: "\\", with: "\\\\")
                    i = j + 1
                    if stuff.first == "!" {
                        stuff = "^" + stuff.dropFirst()
                    } else if stuff.first == "^" {
                        stuff = "\\" + stuff
                    }
                    result += "[\(stuff)]"
                }
            default:
                result += NSRegularExpression.escapedPattern(for: String(c))
            }
        }
        return result
    }
}
