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
}

/// Computes ``ElementPlan``s.
struct ElementPlanner: Sendable {
    let graph: ElementGraph
    let store: LocalContentStore

    var composer: TreeComposer { TreeComposer(store: store) }

    /// The plan for `name`, given the artifacts of everything it depends on.
    /// - Throws: `.invalidArgument` for overlapping dependencies that clash, a broken source.
    func plan(_ name: String, artifacts: [String: Artifact]) throws(CASError) -> ElementPlan {
        let element = graph.elements[name]!
        switch element.kind {
        case .import:
            var root = try importSources(element)
            do {
                root = try composer.subtree(root, at: element.importSource)
            } catch {
                throw CASError(.invalidArgument, "\(element.file): config 'source' \(element.importSource) is not a directory of its sources")
            }
            root = try composer.place(root, at: element.importTarget)
            return ElementPlan(key: Self.key("import", [root.description]), work: .artifact(root: root))
        case .stack:
            let keys = graph.runtimeClosure(of: [name]).dropLast().map { artifacts[$0]?.key ?? "" }
            let empty = try store.put(Data())
            return ElementPlan(key: Self.key("stack", Array(keys)), work: .artifact(root: empty))
        case .manual:
            var layers = graph.buildClosure(of: name).map { dep in
                TreeComposer.Layer(root: artifacts[dep]!.root, label: dep)
            }
            if !element.sources.isEmpty {
                let sources = try importSources(element)
                layers.append(TreeComposer.Layer(root: try composer.place(sources, at: element.buildRoot), label: "the sources of \(name)"))
            }
            let inputRoot: Digest
            do {
                inputRoot = try composer.overlay(layers)
            } catch {
                throw CASError(.invalidArgument, "\(element.file): staging the dependencies of \(name)", cause: error)
            }
            let built = try ActionBuilder.build(element, inputRoot: inputRoot)
            try store.put(built.command.data, expecting: built.command.digest)
            try store.put(built.action.data, expecting: built.action.digest)
            return ElementPlan(key: built.action.digest.hash, work: .action(built, inputRoot: inputRoot, layers: layers))
        }
    }

    /// The element's sources as one tree, each at its `directory`, their files stored in the
    /// local CAS (they are local content, and the remote will need them).
    func importSources(_ element: ElementDefinition) throws(CASError) -> Digest {
        let importer = TreeImporter(store: store, storeFiles: true)
        var layers: [TreeComposer.Layer] = []
        for source in element.sources {
            var st = stat()
            guard stat(source.path, &st) == 0 else {
                throw CASError(.invalidArgument, "\(source.location): cannot read source \(source.path): \(String(cString: strerror(errno)))")
            }
            let tree: Digest
            do {
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    tree = try importer.importDirectory(at: source.path).root
                } else {
                    tree = try importer.importSingleFile(at: source.path)
                }
            } catch {
                throw CASError(.invalidArgument, "\(source.location): importing source \(source.path)", cause: error)
            }
            layers.append(TreeComposer.Layer(root: try composer.place(tree, at: source.directory), label: "source \(source.location)"))
        }
        return try composer.overlay(layers)
    }

    /// A key for an element that runs nothing: a hash of its kind and what it is made of.
    static func key(_ kind: String, _ parts: [String]) -> String {
        Digest(data: Data(([kind] + parts).joined(separator: "\n").utf8)).hash
    }
}
