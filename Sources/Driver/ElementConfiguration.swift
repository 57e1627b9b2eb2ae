/// An element file composed as BuildStream composes it: the kind's default configuration
/// (vendored), the project's split rules under its `public: bst: split-rules`, `project.conf`'s
/// `elements: KIND:` overrides over those, and the element's own keys over everything —
/// `variables` and `environment` also over the project's base ones.
///
/// Everything here is unexpanded; ``variables`` expands it.
struct ElementConfiguration {
    var variables: Variables
    var environment: YAMLNode
    var environmentNoCache: [String]
    var config: YAMLNode
    var publicData: YAMLNode
    var sandbox: YAMLNode

    /// Composes `node` (an element file of `kind`, conditionals and includes resolved) for `name`.
    init(kind: String, node: YAMLNode, name: String, project: Project) throws(ProjectError) {
        var defaults = try BuildStreamDefaults.element(kind)
        // The project's split rules, extended by the kind's.
        var splits = project.splitRules
        if let kindSplits = defaults["public"]?["bst"]?["split-rules"] { try kindSplits.composite(onto: &splits) }
        var publicNode = defaults["public"] ?? .emptyMapping(at: defaults.location)
        var bst = publicNode["bst"] ?? .emptyMapping(at: defaults.location)
        bst["split-rules"] = splits
        publicNode["bst"] = bst
        defaults["public"] = publicNode
        if let overrides = project.elementOverrides[kind], !overrides.isNull {
            try overrides.composite(onto: &defaults)
        }

        let elementVariables = node["variables"] ?? .emptyMapping(at: node.location)
        for protected in ["project-name", "element-name", "max-jobs"] {
            if let redefined = elementVariables[protected] {
                throw redefined.error("invalid redefinition of protected variable '\(protected)'")
            }
        }
        var values = project.variables.values
        for layer in [defaults["variables"], elementVariables] {
            for (key, value) in try layer?.stringMap("'variables'") ?? [:] { values[key] = value }
        }
        values["element-name"] = name
        variables = Variables(values)

        environment = project.environment
        for layer in [defaults["environment"], node["environment"]] {
            if let layer, !layer.isNull { try layer.composite(onto: &environment) }
        }
        environmentNoCache = project.environmentNoCache
            + (try defaults["environment-nocache"]?.strings("'environment-nocache'") ?? [])
            + (try node["environment-nocache"]?.strings("'environment-nocache'") ?? [])

        config = defaults["config"] ?? .emptyMapping(at: node.location)
        if let own = node["config"], !own.isNull { try own.composite(onto: &config) }
        try config.assertFullyComposited()

        // The element's public data as written, its split rules extending the defaults' (only
        // split rules come from the defaults, as in BuildStream).
        var ownPublic = node["public"].flatMap { $0.isNull ? nil : $0 } ?? .emptyMapping(at: node.location)
        var splitRules = defaults["public"]!["bst"]!["split-rules"]!
        if let ownSplits = ownPublic["bst"]?["split-rules"] { try ownSplits.composite(onto: &splitRules) }
        var ownBst = ownPublic["bst"] ?? .emptyMapping(at: ownPublic.location)
        ownBst["split-rules"] = splitRules
        ownPublic["bst"] = ownBst
        try ownPublic.assertFullyComposited()
        publicData = ownPublic

        sandbox = project.sandbox
        for layer in [defaults["sandbox"], node["sandbox"]] {
            if let layer, !layer.isNull { try layer.composite(onto: &sandbox) }
        }
    }
}
