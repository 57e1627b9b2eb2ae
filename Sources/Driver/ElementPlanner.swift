import Foundation
import Glibc
import LocalCAS

/// What an element is made of, worked out locally from its definition and the artifacts of
/// its dependencies: its cache key and either its finished artifact (`import`, `stack`,
/// `filter`, a `compose` with nothing to integrate) or the action that builds it (build
/// elements, `script`, an integrating `compose`). Needs no network: dependency trees are
/// composed by reference from their Directory nodes.
struct ElementPlan: Sendable {
    enum Work: Sendable {
        /// The artifact is known without running anything.
        case artifact(root: Digest)
        /// A remote action builds it.
        case action(ActionBuilder.Built, inputRoot: Digest, layers: [TreeComposer.Layer])
    }

    var key: String
    var work: Work
    /// A compose element that integrates and keeps only some split domains: what of the
    /// action's output tree becomes the artifact.
    var finish: CompositionSplit?
    /// Files one staged dependency overwrites in another, not whitelisted.
    var overlaps: [StagingOverlaps.Overlap] = []

    /// The tree the plan needs in the local CAS before it is used: the artifact, or the input root.
    var tree: Digest {
        switch work {
        case .artifact(let root): root
        case .action(_, let inputRoot, _): inputRoot
        }
    }
}

/// Computes ``ElementPlan``s, purely: sources are hashed and trees composed in `nodes`, in
/// memory, so a plan stores nothing in the local CAS. Whoever uses a plan's tree stores it first
/// (``PlannedNodes/persist(_:)``): a build does, a lookup of an element's key does not.
struct ElementPlanner: Sendable {
    let graph: ElementGraph
    let nodes: PlannedNodes

    var composer: TreeComposer { TreeComposer(store: nodes) }

    /// The plan for `name`, given the artifacts of everything it depends on.
    /// - Throws: ``ProjectError`` for overlapping dependencies that clash or a broken source;
    ///   ``CASError`` when a Directory node of a dependency cannot be read.
    func plan(_ name: String, artifacts: [String: Artifact]) throws -> ElementPlan {
        guard let element = graph.elements[name] else { throw ProjectError("no element '\(name)' in the graph") }
        switch element.kind {
        case .import:
            var root = try importSources(element)
            do {
                root = try composer.subtree(root, at: element.importSource)
            } catch {
                throw ProjectError("\(element.file): config 'source' \(element.importSource) is not a directory of its sources")
            }
            root = try composer.place(root, at: element.importTarget)
            return ElementPlan(key: Self.key("import", [root.description]), work: .artifact(root: root))
        case .stack:
            let keys = graph.runtimeClosure(of: [name]).dropLast().map { artifacts[$0]?.key ?? "" }
            // The empty Directory serializes to no bytes: its digest is the empty blob's.
            return ElementPlan(key: Self.key("stack", Array(keys)), work: .artifact(root: .empty))
        case .filter:
            let dep = element.dependencies.first(where: \.build)!
            guard let artifact = artifacts[dep.name], let source = graph.elements[dep.name] else {
                throw ProjectError("\(element.file): dependency '\(dep.name)' has no artifact")
            }
            let rules = SplitRules(source.splitRules)
            let unknown = (element.selection.include + element.selection.exclude).filter { !rules.domainNames.contains($0) }
            if !unknown.isEmpty {
                throw ProjectError("\(element.file): unknown split domains \(unknown.joined(separator: ", ")) (\(dep.name) has \(rules.domainNames.sorted().joined(separator: ", ")))")
            }
            let selection = element.selection
            let root = selection.keepsAll ? artifact.root : try TreeSelection(store: nodes).filter(artifact.root) { path in
                rules.keeps(path, include: selection.include, exclude: selection.exclude, orphans: selection.orphans)
            } ?? .empty
            return ElementPlan(key: Self.key("filter", [root.description]), work: .artifact(root: root))
        case .compose:
            let staging = try buildStaging(of: element, artifacts: artifacts)
            var layers: [TreeComposer.Layer] = []
            for (dep, _) in staging.layers {
                guard let artifact = artifacts[dep] else { throw ProjectError("\(element.file): dependency '\(dep)' has no artifact") }
                layers.append(TreeComposer.Layer(root: artifact.root, label: dep))
            }
            let staged: Digest
            do {
                staged = try composer.overlay(layers)
            } catch {
                throw ProjectError("\(element.file): staging the dependencies of \(name)", cause: error)
            }
            let manifest = element.selection.keepsAll ? nil : try self.manifest(of: staging.layers.map(\.0), element.selection, artifacts: artifacts)
            let overlaps = try self.overlaps(staging.layers, artifacts: artifacts)
            if element.integrate && !staging.integration.isEmpty {
                let built = try ActionBuilder.build(element, inputRoot: staged, integration: staging.integration)
                let finish = manifest.map { CompositionSplit(manifest: $0, staged: staged) }
                return ElementPlan(key: built.action.digest.hash, work: .action(built, inputRoot: staged, layers: layers), finish: finish, overlaps: overlaps)
            }
            let root = try manifest.map { kept in try TreeSelection(store: nodes).filter(staged, keep: kept.contains) ?? .empty } ?? staged
            return ElementPlan(key: Self.key("compose", [root.description]), work: .artifact(root: root), overlaps: overlaps)
        default:
            var layers: [TreeComposer.Layer] = []
            let staging = try buildStaging(of: element, artifacts: artifacts)
            for (name, location) in staging.layers {
                guard let artifact = artifacts[name] else { throw ProjectError("\(element.file): dependency '\(name)' has no artifact") }
                layers.append(TreeComposer.Layer(root: try composer.place(artifact.root, at: location), label: name))
            }
            if !element.sources.isEmpty && element.kind != .script {
                let sources = try importSources(element)
                layers.append(TreeComposer.Layer(root: try composer.place(sources, at: element.buildRoot), label: "the sources of \(name)"))
            }
            let inputRoot: Digest
            do {
                inputRoot = try composer.overlay(layers)
            } catch {
                throw ProjectError("\(element.file): staging the dependencies of \(name)", cause: error)
            }
            let actionRoot = try readOnlyRoot(of: element, inputRoot, integrates: !staging.integration.isEmpty)
            let built = try ActionBuilder.build(element, inputRoot: actionRoot, integration: staging.integration)
            return ElementPlan(key: built.action.digest.hash, work: .action(built, inputRoot: actionRoot, layers: layers),
                               overlaps: try overlaps(staging.layers, artifacts: artifacts))
        }
    }

    /// A build element's input root as BuildStream stages it for its commands: marked
    /// `SubtreeReadOnly` except the build and install roots, the working directory and `/tmp`,
    /// `/dev`, `/proc`, so an executor may share the inputs instead of copying them. Left as it
    /// is when the action also runs integration commands (they write anywhere under `/`;
    /// BuildStream runs them in an action of their own) and for `script` elements (BuildStream's
    /// `root-read-only` defaults to false).
    func readOnlyRoot(of element: ElementDefinition, _ root: Digest, integrates: Bool) throws(CASError) -> Digest {
        guard element.kind.isBuildElement, !integrates else { return root }
        let writable = [element.buildRoot, element.installRoot, element.workingDirectory, "tmp", "dev", "proc"]
        return try composer.markedReadOnly(root, writable: writable) ?? root
    }

    /// How a build element stages its build dependencies: each with its runtime closure, at
    /// `/` or at its `config: location:`, in order; and the integration commands of what is at
    /// `/`, in staging order, as BuildStream's build elements run them.
    func buildStaging(of element: ElementDefinition, artifacts: [String: Artifact]) throws -> (layers: [(String, String)], integration: [String]) {
        var layers: [(String, String)] = []
        var integration: [String] = []
        let builds = element.dependencies.filter(\.build)
        var locations = Array(Set(builds.map(\.stagingLocation))).sorted()
        if let root = locations.firstIndex(of: "/") { locations.insert(locations.remove(at: root), at: 0) }
        for location in locations {
            let closure = graph.runtimeClosure(of: builds.filter { $0.stagingLocation == location }.map(\.name))
            for name in closure {
                layers.append((name, location))
                if location == "/" { integration += graph.integrationCommands(of: name) }
            }
        }
        return (layers, integration)
    }

    /// The overlaps of staged dependencies, location by location (see ``StagingOverlaps``).
    func overlaps(_ layers: [(String, String)], artifacts: [String: Artifact]) throws -> [StagingOverlaps.Overlap] {
        var byLocation: [String: [(name: String, root: Digest)]] = [:]
        for (name, location) in layers {
            if let artifact = artifacts[name] { byLocation[location, default: []].append((name, artifact.root)) }
        }
        var whitelists: [String: [GlobPattern]] = [:]
        for (name, _) in layers { whitelists[name] = graph.elements[name]?.overlapWhitelist.map(GlobPattern.init) ?? [] }
        let finder = StagingOverlaps(store: nodes)
        var found: [StagingOverlaps.Overlap] = []
        for location in byLocation.keys.sorted() where byLocation[location]!.count > 1 {
            found += try finder.find(byLocation[location]!, at: location, whitelists: whitelists)
        }
        return found
    }

    /// What a compose element keeps of its dependencies: each one's files in the selected split
    /// domains, by that element's own split rules (BuildStream's `compute_manifest`).
    func manifest(of names: [String], _ selection: ElementDefinition.SplitSelection, artifacts: [String: Artifact]) throws -> Set<String> {
        var kept: Set<String> = []
        let walker = TreeSelection(store: nodes)
        for name in names {
            guard let artifact = artifacts[name], let element = graph.elements[name] else { continue }
            let rules = SplitRules(element.splitRules)
            for path in try walker.paths(under: artifact.root)
            where rules.keeps(path, include: selection.include, exclude: selection.exclude, orphans: selection.orphans) {
                kept.insert(path)
            }
        }
        return kept
    }

    /// The element's sources as one tree (see ``SourceStaging``).
    func importSources(_ element: ElementDefinition) throws -> Digest {
        try SourceStaging(nodes: nodes).tree(of: element)
    }

    /// A key for an element that runs nothing: a hash of its kind and what it is made of.
    static func key(_ kind: String, _ parts: [String]) -> String {
        Digest(data: Data(([kind] + parts).joined(separator: "\n").utf8)).hash
    }
}
