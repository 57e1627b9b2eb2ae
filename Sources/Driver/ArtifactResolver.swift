import LocalCAS

/// Finds the artifact an element name stands for *now*: the one whose cache key matches the
/// element's current definition, sources and dependencies, as `lazycas build` would compute it.
/// Local only: keys are worked out from the recorded artifacts of the dependencies.
public struct ArtifactResolver: Sendable {
    public let project: Project
    public let store: LocalContentStore

    public init(project: Project, store: LocalContentStore) {
        self.project = project
        self.store = store
    }

    /// The current artifact of `element`.
    /// - Throws: `.notFound` if it (or a dependency) has not been built with its current inputs.
    public func artifact(of element: String) throws(CASError) -> Artifact {
        let graph = try ElementGraph(project: project, targets: [element])
        let artifacts = try ArtifactStore(store: store)
        let planner = ElementPlanner(graph: graph, store: store)
        var known: [String: Artifact] = [:]
        for name in graph.order {
            let plan = try planner.plan(name, artifacts: known)
            if let recorded = artifacts.artifact(project: project.name, element: name, key: plan.key) {
                known[name] = recorded
            } else if case .artifact(let root) = plan.work {
                known[name] = Artifact(project: project.name, element: name, key: plan.key, root: root, action: nil, tree: nil,
                                       stdout: nil, stderr: nil, recorded: .now, cached: false)
            } else {
                let what = name == element ? "'\(element)'" : "'\(element)' (its dependency '\(name)')"
                throw CASError(.notFound, "\(what) has not been built with its current inputs (key \(plan.key.prefix(8))): run 'lazycas build \(element)'")
            }
        }
        return known[element]!
    }
}

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
        let graph = try ElementGraph(project: project, targets: [element])
        var known: [String: Artifact] = [:]
        for name in graph.order where name != element || !build {
            known[name] = try artifact(of: name)
        }
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
