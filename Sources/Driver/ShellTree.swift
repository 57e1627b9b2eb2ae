import LocalCAS

/// The tree a shell on an element enters, and how to run in it.
public struct ShellTree: Sendable {
    /// Root Directory (composed in the local CAS; every Directory node local).
    public var root: Digest
    public var environment: [String: String]
    /// Absolute path in the sandbox to start in.
    public var workingDirectory: String
    /// For a build environment that is an action's input root: that action's shape
    /// (``AccessProfile/actionKey(command:platform:)``), whose profile a worker that ran it
    /// may have shared.
    public var actionProfileKey: String?

    public init(root: Digest, environment: [String: String], workingDirectory: String, actionProfileKey: String? = nil) {
        self.root = root
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.actionProfileKey = actionProfileKey
    }
}

extension ArtifactResolver {
    /// What `lazycas shell ELEMENT` enters: the element's runtime closure (its artifact and those
    /// of everything it needs at run time, staged in order), or with `build` its build
    /// environment (build dependencies with their runtime closures, sources at `%{build-root}`,
    /// starting there). Composed by reference; nothing is fetched.
    public func shellTree(for element: String, build: Bool) throws -> ShellTree {
        let (graph, known, planner) = try artifacts(for: element, includingItself: !build)
        let element = graph.resolvedTargets[0]
        guard let definition = graph.elements[element] else { throw ProjectError("no element '\(element)'") }
        // Composed where the plans are (a tree never built exists only there), then stored.
        let composer = TreeComposer(store: planner.nodes)
        func stored(_ root: Digest) throws -> Digest {
            try planner.nodes.persist(root)
            return root
        }
        func layers(_ names: [String]) -> [TreeComposer.Layer] {
            names.compactMap { name in known[name].map { TreeComposer.Layer(root: $0.root, label: name) } }
        }
        if build {
            let plan = try planner.plan(element, artifacts: known)
            if case .action(let built, let inputRoot, _) = plan.work {
                let key = AccessProfile.actionKey(command: built.command.digest, platform: ActionBuilder.platformMessage)
                return ShellTree(root: try stored(inputRoot), environment: definition.environment, workingDirectory: definition.buildRoot,
                                 actionProfileKey: key)
            }
            let staging = try planner.buildStaging(of: definition, artifacts: known)
            let placed = try staging.layers.compactMap { name, location in
                try known[name].map { TreeComposer.Layer(root: try composer.place($0.root, at: location), label: name) }
            }
            return ShellTree(root: try stored(composer.overlay(placed)),
                             environment: definition.environment, workingDirectory: "/")
        }
        return ShellTree(root: try stored(composer.overlay(layers(graph.runtimeClosure(of: [element])))),
                         environment: definition.environment, workingDirectory: "/")
    }
}
