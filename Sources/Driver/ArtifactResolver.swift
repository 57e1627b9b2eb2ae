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
        try artifacts(for: element, includingItself: true).known[element]!
    }

    /// The graph of `element` and the current artifacts of everything in it, in one pass (each
    /// element planned once): its own too unless `includingItself` is false (a build shell
    /// needs only its dependencies).
    func artifacts(for element: String, includingItself: Bool) throws(CASError) -> (graph: ElementGraph, known: [String: Artifact]) {
        let graph = try ElementGraph(project: project, targets: [element])
        let artifacts = try ArtifactStore(store: store)
        let planner = ElementPlanner(graph: graph, store: store)
        var known: [String: Artifact] = [:]
        for name in graph.order where includingItself || name != element {
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
        return (graph, known)
    }
}
