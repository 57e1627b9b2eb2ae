import LocalCAS

/// Finds the artifact an element name stands for *now*: the one whose cache key matches the
/// element's current definition, sources and dependencies, as `lazycas build` would compute it.
/// Local only: keys are worked out from the recorded artifacts of the dependencies, and nothing
/// is stored but the tree handed out, when it was never built (an `import` element, whose
/// content is its sources).
public struct ArtifactResolver: Sendable {
    public let project: Project
    public let store: LocalContentStore

    public init(project: Project, store: LocalContentStore) {
        self.project = project
        self.store = store
    }

    /// The current artifact of `element`.
    /// - Throws: `.notFound` if it (or a dependency) has not been built with its current inputs;
    ///   ``ProjectError`` for a broken project.
    public func artifact(of element: String) throws -> Artifact {
        let (graph, known, planner) = try artifacts(for: element, includingItself: true)
        guard let artifact = known[graph.resolvedTargets[0]] else { throw CASError(.notFound, "'\(element)' has no artifact") }
        try planner.nodes.persist(artifact.root)
        return artifact
    }

    /// Brings `files` of `artifact` (an element that runs nothing: its files are its sources')
    /// back into the local CAS from the element's sources, as a build imports them.
    /// - Returns: how many files were imported.
    /// - Throws: `.notFound` when the sources no longer make the recorded tree.
    public func restoreSources(of artifact: Artifact, files: [Digest]) throws -> Int {
        let (_, known, planner) = try artifacts(for: artifact.element, includingItself: true)
        guard known[artifact.element]?.root == artifact.root else {
            throw CASError(.notFound, "the sources of '\(artifact.element)' in \(project.root) no longer make artifact \(artifact.refName)")
        }
        var imported = 0
        for digest in files {
            guard let path = planner.nodes.sourcePath(of: digest) else { continue }
            try store.importFile(at: path, expecting: digest)
            imported += 1
        }
        return imported
    }

    /// The graph of `element`, the current artifacts of everything in it (each element planned
    /// once; its own too unless `includingItself` is false: a build shell needs only its
    /// dependencies), and the planner that worked them out.
    func artifacts(for element: String, includingItself: Bool) throws
        -> (graph: ElementGraph, known: [String: Artifact], planner: ElementPlanner) {
        let graph = try ElementGraph(project: project, targets: [element], sources: try SourceCache(store: store))
        let element = graph.resolvedTargets[0]
        let artifacts = try ArtifactStore(store: store)
        let planner = ElementPlanner(graph: graph, nodes: PlannedNodes(store: store))
        var known: [String: Artifact] = [:]
        for name in graph.order where includingItself || name != element {
            let plan = try planner.plan(name, artifacts: known)
            let definition = graph.elements[name]!
            if let recorded = artifacts.artifact(project: definition.projectName, element: definition.localName, key: plan.key) {
                known[name] = recorded
            } else if case .artifact(let root) = plan.work {
                // Never built, but known without running anything (its tree may exist only in
                // the planner's memory: whoever hands it out stores it).
                known[name] = Artifact(project: definition.projectName, element: definition.localName, key: plan.key, root: root, action: nil, tree: nil,
                                       stdout: nil, stderr: nil, recorded: .now, cached: false)
            } else {
                let what = name == element ? "'\(element)'" : "'\(element)' (its dependency '\(name)')"
                throw CASError(.notFound, "\(what) has not been built with its current inputs (key \(plan.key.prefix(8))): run 'lazycas build \(element)'")
            }
        }
        return (graph, known, planner)
    }
}
