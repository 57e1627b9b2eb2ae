import Foundation
import Glibc
import LocalCAS

/// An element's sources staged together, by reference: each source's tree placed at its
/// `directory`, in order, a patch applied to what comes before it.
struct SourceStaging {
    let nodes: PlannedNodes

    var composer: TreeComposer { TreeComposer(store: nodes) }

    /// The element's sources as one tree, each at its `directory`, in order (a patch applies to
    /// what comes before it): project files hashed, with where each file's bytes are noted in
    /// `nodes` for when the tree is stored; fetched sources from the ``SourceCache``.
    /// - Throws: ``ProjectError`` for a source not fetched yet, naming the command that fetches it.
    func tree(of element: ElementDefinition) throws -> Digest {
        let importer = TreeImporter(nodes: nodes, files: nil)
        let cache = try SourceCache(store: nodes.store)
        var root: Digest?
        for source in element.sources {
            let tree: Digest
            switch source.kind {
            case .local(let path):
                var st = stat()
                guard stat(path, &st) == 0 else {
                    throw ProjectError("\(source.location): cannot read source \(path): \(String(cString: strerror(errno)))")
                }
                let imported: ImportedTree
                do {
                    imported = (st.st_mode & S_IFMT) == S_IFDIR ? try importer.importDirectory(at: path) : try importer.importSingleFile(at: path)
                } catch {
                    throw ProjectError("\(source.location): importing source \(path)", cause: error)
                }
                nodes.noteFiles(imported.files)
                tree = imported.root
            case .remote, .tar, .git:
                guard let key = source.contentKey else {
                    throw ProjectError("\(source.location): the \(source.kindName) source of \(element.name) has no ref: run 'lazycas source track \(element.name)'")
                }
                guard let fetched = cache.tree(for: key) else {
                    throw ProjectError("\(source.location): the \(source.kindName) source of \(element.name) is not fetched: run 'lazycas source fetch \(element.name)' (or build it)")
                }
                tree = fetched
            case .patch(let path, let strip):
                guard let staged = root else { throw ProjectError("\(source.location): a patch needs sources before it to apply to") }
                root = try PatchApplication(cache: cache, nodes: nodes).apply(path, strip: strip, to: staged, directory: source.directory, at: source.location)
                continue
            }
            let placed = try composer.place(tree, at: source.directory)
            root = try root.map { before throws in
                try composer.overlay([TreeComposer.Layer(root: before, label: "the sources before \(source.location)"),
                                      TreeComposer.Layer(root: placed, label: "source \(source.location)")])
            } ?? placed
        }
        return try root ?? composer.overlay([])
    }

}
