import Foundation
import Glibc
import LocalCAS

/// What an element is made of, worked out locally from its definition and the artifacts of
/// its dependencies: its cache key and either its finished artifact (`import`, `stack`) or the
/// action that builds it (`manual`). Needs no network: dependency trees are composed by
/// reference from their Directory nodes.
struct ElementPlan: Sendable {
    enum Work: Sendable {
        /// The artifact is known without running anything.
        case artifact(root: Digest)
        /// A remote action builds it.
        case action(ActionBuilder.Built, inputRoot: Digest, layers: [TreeComposer.Layer])
    }

    var key: String
    var work: Work

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
        case .manual:
            var layers: [TreeComposer.Layer] = []
            for dep in graph.buildClosure(of: name) {
                guard let artifact = artifacts[dep] else { throw ProjectError("\(element.file): dependency '\(dep)' has no artifact") }
                layers.append(TreeComposer.Layer(root: artifact.root, label: dep))
            }
            if !element.sources.isEmpty {
                let sources = try importSources(element)
                layers.append(TreeComposer.Layer(root: try composer.place(sources, at: element.buildRoot), label: "the sources of \(name)"))
            }
            let inputRoot: Digest
            do {
                inputRoot = try composer.overlay(layers)
            } catch {
                throw ProjectError("\(element.file): staging the dependencies of \(name)", cause: error)
            }
            let built = try ActionBuilder.build(element, inputRoot: inputRoot)
            return ElementPlan(key: built.action.digest.hash, work: .action(built, inputRoot: inputRoot, layers: layers))
        }
    }

    /// The element's sources as one tree, each at its `directory`: hashed, with where each
    /// file's bytes are noted in `nodes` for when the tree is stored.
    func importSources(_ element: ElementDefinition) throws -> Digest {
        let importer = TreeImporter(nodes: nodes, files: nil)
        var layers: [TreeComposer.Layer] = []
        for source in element.sources {
            var st = stat()
            guard stat(source.path, &st) == 0 else {
                throw ProjectError("\(source.location): cannot read source \(source.path): \(String(cString: strerror(errno)))")
            }
            let tree: ImportedTree
            do {
                tree = (st.st_mode & S_IFMT) == S_IFDIR
                    ? try importer.importDirectory(at: source.path)
                    : try importer.importSingleFile(at: source.path)
            } catch {
                throw ProjectError("\(source.location): importing source \(source.path)", cause: error)
            }
            nodes.noteFiles(tree.files)
            layers.append(TreeComposer.Layer(root: try composer.place(tree.root, at: source.directory), label: "source \(source.location)"))
        }
        return try composer.overlay(layers)
    }

    /// A key for an element that runs nothing: a hash of its kind and what it is made of.
    static func key(_ kind: String, _ parts: [String]) -> String {
        Digest(data: Data(([kind] + parts).joined(separator: "\n").utf8)).hash
    }
}
