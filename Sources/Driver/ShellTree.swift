import LocalCAS

/// The tree a shell on an element enters, and how to run in it.
public struct ShellTree: Sendable {
    /// Root Directory (composed in the local CAS; every Directory node local).
    public var root: Digest
    public var environment: [String: String]
    /// Absolute path in the sandbox to start in.
    public var workingDirectory: String

    public init(root: Digest, environment: [String: String], workingDirectory: String) {
        self.root = root
        self.environment = environment
        self.workingDirectory = workingDirectory
    }
}

extension ArtifactResolver {
    /// What `lazycas shell ELEMENT` enters: the element's runtime closure (its artifact and those
    /// of everything it needs at run time, staged in order), or with `build` its build
    /// environment (build dependencies with their runtime closures, sources at `%{build-root}`,
    /// starting there). Composed by reference; nothing is fetched.
    public func shellTree(for element: String, build: Bool) throws(CASError) -> ShellTree {
        let (graph, known) = try artifacts(for: element, includingItself: !build)
        let definition = graph.elements[element]!
        let composer = TreeComposer(store: store)
        if build {
            let plan = try ElementPlanner(graph: graph, store: store).plan(element, artifacts: known)
            if case .action(_, let inputRoot, _) = plan.work {
                return ShellTree(root: inputRoot, environment: definition.environment, workingDirectory: definition.buildRoot)
            }
            let layers = graph.buildClosure(of: element).map { TreeComposer.Layer(root: known[$0]!.root, label: $0) }
            return ShellTree(root: try composer.overlay(layers), environment: definition.environment, workingDirectory: "/")
        }
        let layers = graph.runtimeClosure(of: [element]).map { TreeComposer.Layer(root: known[$0]!.root, label: $0) }
        return ShellTree(root: try composer.overlay(layers), environment: definition.environment, workingDirectory: "/")
    }
}
