import Foundation
import LocalCAS

/// A junction's subproject on disk, where its project files can be read: the directory of its
/// one `local` source as it is, else its sources' tree (fetched `tar`/`git`, patches applied)
/// checked out once into `CACHE/sources/junctions/HASH`, keyed by that tree.
struct JunctionCheckout {
    let sources: SourceCache?
    let parent: Project

    /// A junction whose sources have not been fetched.
    struct Unfetched: Error {
        let junction: ElementDefinition
    }

    func directory(of junction: ElementDefinition) throws(ProjectError) -> String {
        if junction.sources.count == 1, case .local(let path) = junction.sources[0].kind, junction.sources[0].directory.isEmpty {
            return path
        }
        guard let sources else {
            throw ProjectError("\(junction.file): a junction with \(junction.sources.map(\.kindName).joined(separator: ", ")) sources needs the local cache")
        }
        if let missing = junction.sources.first(where: { $0.isFetched && ($0.contentKey.map { sources.tree(for: $0) } ?? nil) == nil }) {
            throw ProjectError("\(missing.location): the sources of junction \(junction.name) are not fetched: 'lazycas build' and 'lazycas source fetch' fetch them",
                               cause: Unfetched(junction: junction))
        }
        do {
            let nodes = PlannedNodes(store: sources.store)
            let tree = try SourceStaging(nodes: nodes).tree(of: junction)
            try nodes.persist(tree)
            let target = sources.directory + "/junctions/" + tree.hash
            if FileManager.default.fileExists(atPath: target) { return target }
            let scratch = try sources.scratch("junction")
            _ = try TreeCheckout(store: sources.store).write(tree, into: scratch)
            try FileManager.default.createDirectory(atPath: sources.directory + "/junctions", withIntermediateDirectories: true)
            if rename(scratch, target) != 0, !FileManager.default.fileExists(atPath: target) {
                throw ProjectError("cannot move the junction's checkout into \(target): \(String(cString: strerror(errno)))")
            }
            try? FileManager.default.removeItem(atPath: scratch)
            return target
        } catch let error as ProjectError {
            throw error
        } catch {
            throw ProjectError("\(junction.file): checking out the junction's sources", cause: error)
        }
    }
}

extension ElementGraph {
    /// Loads the graph like ``init(project:targets:sources:)``, fetching the sources of every
    /// junction on the way that has not been fetched yet.
    public static func load(project: Project, targets: [String], sources: SourceCache) async throws -> ElementGraph {
        var fetched: Set<String> = []
        while true {
            do {
                return try ElementGraph(project: project, targets: targets, sources: sources)
            } catch let error {
                guard let unfetched = error.cause as? JunctionCheckout.Unfetched, fetched.insert(unfetched.junction.name).inserted else { throw error }
                try await SourceFetcher(cache: sources).fetch(unfetched.junction)
            }
        }
    }
}
