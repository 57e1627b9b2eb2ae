/// BuildStream's composition of one YAML mapping onto another, the rule by which defaults,
/// plugin defaults, `project.conf`, includes, conditionals and element files layer:
///
/// - a scalar replaces what was there (it cannot replace a mapping or a list);
/// - a mapping composes key by key into the mapping below it;
/// - a list replaces a list;
/// - a mapping holding only the list directives `(<)` (prepend), `(>)` (append) and `(=)`
///   (replace) edits the list below it, or merges into the directives below it; with nothing
///   below, it stays as directives, and ``assertFullyComposited()`` refuses it later
///   ("Attempt to override non-existing list"), as BuildStream does.
extension YAMLNode {
    static let listDirectives: Set<String> = ["(<)", "(>)", "(=)"]

    /// Composes this mapping onto `target` (this one's values win).
    func composite(onto target: inout YAMLNode) throws(ProjectError) {
        guard case .mapping(let entries) = value else { throw error("only a mapping can be composed") }
        guard target.isMapping || target.isNull else {
            throw error("cannot compose a mapping onto \(target.location)")
        }
        if target.isNull { target.value = .mapping([]) }
        for entry in entries {
            try entry.value.compose(key: entry.key, into: &target)
        }
        target.location = location
    }

    /// `self` composed under `target`: what `target` says wins; the result replaces `target`
    /// (an include under the file that includes it).
    func compositeUnder(_ target: inout YAMLNode) throws(ProjectError) {
        var base = self
        try target.composite(onto: &base)
        base.location = target.location
        target = base
    }

    /// Is this a mapping of list directives only?
    /// - Throws: when directives and ordinary keys are mixed.
    func isCompositeList() throws(ProjectError) -> Bool {
        guard case .mapping(let entries) = value, !entries.isEmpty else { return false }
        let directives = entries.filter { Self.listDirectives.contains($0.key) }.count
        if directives > 0 && directives < entries.count {
            throw error("a mapping holds list composition directives and other keys")
        }
        return directives > 0
    }

    private func compose(key: String, into target: inout YAMLNode) throws(ProjectError) {
        let below = target[key]
        switch value {
        case .scalar:
            if let below, !below.isNull, !isScalar(below) {
                throw error("cannot compose a scalar onto '\(key)' at \(below.location) (not a scalar)")
            }
            target[key] = self
        case .sequence:
            if let below, !below.isNull, !below.isSequence, !(try below.isCompositeList()) {
                throw error("a list cannot replace '\(key)' at \(below.location)")
            }
            target[key] = self
        case .mapping:
            if try isCompositeList() {
                guard let below, !below.isNull else {
                    target[key] = self
                    return
                }
                if case .sequence(let items) = below.value {
                    var edited = below
                    edited.value = .sequence(try apply(to: items))
                    target[key] = edited
                } else if try below.isCompositeList() {
                    target[key] = try merged(onto: below)
                } else {
                    throw error("cannot compose list directives onto '\(key)' at \(below.location) (not a list)")
                }
            } else {
                var child = below.flatMap { $0.isNull ? nil : $0 } ?? .emptyMapping(at: location)
                guard child.isMapping else {
                    throw error("cannot compose a mapping onto '\(key)' at \(child.location) (not a mapping)")
                }
                try composite(onto: &child)
                target[key] = child
            }
        }
    }

    private func isScalar(_ node: YAMLNode) -> Bool {
        if case .scalar = node.value { true } else { false }
    }

    /// The list `items` edited by these directives.
    private func apply(to items: [YAMLNode]) throws(ProjectError) -> [YAMLNode] {
        var result = items
        if let replace = self["(=)"] { result = try replace.sequence("'(=)'") }
        if let prepend = self["(<)"] { result = try prepend.sequence("'(<)'") + result }
        if let append = self["(>)"] { result += try append.sequence("'(>)'") }
        return result
    }

    /// These directives merged onto the directives `below` (composition of two overrides).
    private func merged(onto below: YAMLNode) throws(ProjectError) -> YAMLNode {
        var result = below
        if let replace = self["(=)"] {
            result["(=)"] = replace
            result["(<)"] = self["(<)"]
            result["(>)"] = self["(>)"]
        } else {
            if let prepend = self["(<)"] {
                let old = try below["(<)"]?.sequence("'(<)'") ?? []
                var node = prepend
                node.value = .sequence(try prepend.sequence("'(<)'") + old)
                result["(<)"] = node
            }
            if let append = self["(>)"] {
                let old = try below["(>)"]?.sequence("'(>)'") ?? []
                var node = append
                node.value = .sequence(old + (try append.sequence("'(>)'")))
                result["(>)"] = node
            }
        }
        return result
    }

    /// Refuses list directives left with no list under them: the file meant to edit a list
    /// that does not exist (a misspelt key, most often).
    func assertFullyComposited() throws(ProjectError) {
        switch value {
        case .scalar: return
        case .sequence(let items):
            for item in items { try item.assertFullyComposited() }
        case .mapping(let entries):
            for entry in entries {
                if Self.listDirectives.contains(entry.key) {
                    throw entry.value.error("'\(entry.key)' edits a list that does not exist")
                }
                try entry.value.assertFullyComposited()
            }
        }
    }
}
