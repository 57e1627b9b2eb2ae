import Foundation
import LocalCAS

/// Turns what follows `bst:` in a tree argument into BuildStream artifacts: `PROJECT/ELEMENT/KEY`
/// names one directly; an element name (`hello.bst`, `junction.bst:lib.bst`) is the artifact of
/// its *current* cache key, which `bst show` computes (or, with no `bst`, the newest one in the
/// local cache, said in ``notes``).
public struct BuildStreamResolver: Sendable {
    public let artifacts: BuildStreamArtifacts
    /// How to ask bst for keys; nil when there is no `bst`.
    public let show: BuildStreamShow?
    /// Said to the user on the way (which artifact was picked, and why).
    public typealias Note = @Sendable (String) -> Void
    let note: Note

    public init(artifacts: BuildStreamArtifacts, show: BuildStreamShow?, note: @escaping Note) {
        self.artifacts = artifacts
        self.show = show
        self.note = note
    }

    /// The artifact `reference` stands for.
    public func locate(_ reference: String) async throws -> BuildStreamArtifacts.Located {
        if let name = BuildStreamArtifactName(parsing: reference) { return try await artifacts.locate(name) }
        return try await artifacts.locate(try names(of: reference, runtime: false).last!)
    }

    /// The artifacts of `reference` and of everything it needs at run time, in staging order
    /// (itself last). An artifact named by `PROJECT/ELEMENT/KEY` stands alone: its record lists
    /// build dependencies only, so the runtime closure needs the project.
    public func runtimeClosure(of reference: String) async throws -> [BuildStreamArtifacts.Located] {
        if let name = BuildStreamArtifactName(parsing: reference) {
            note("\(name) is an artifact name, not an element of a project: the shell has that artifact alone, without its runtime dependencies")
            return [try await artifacts.locate(name)]
        }
        var located: [BuildStreamArtifacts.Located] = []
        for name in try names(of: reference, runtime: true) { located.append(try await artifacts.locate(name)) }
        return located
    }

    /// The artifact names of `element` (and its runtime closure), in staging order.
    func names(of element: String, runtime: Bool) throws -> [BuildStreamArtifactName] {
        guard let project = artifacts.project else {
            throw ProjectError("bst:\(element) names an element, which needs its BuildStream project: run inside the project or pass -C DIR (or name the artifact bst:PROJECT/ELEMENT/KEY)")
        }
        guard let show else {
            guard let newest = artifacts.newestLocal(project: project.name, element: Self.localName(element)) else {
                throw CASError(.notFound, "no bst on PATH to compute the cache key of \(element), and the local BuildStream cache \(artifacts.configuration.cacheDirectory) holds no artifact of it: install BuildStream or pass --bst PATH, or name the artifact bst:PROJECT/ELEMENT/KEY")
            }
            if runtime {
                note("no bst on PATH: using the newest artifact of \(element) in the local cache (\(newest.key.prefix(8))), without its runtime dependencies; pass --bst PATH for the current key and the whole runtime closure")
            } else {
                note("no bst on PATH: using the newest artifact of \(element) in the local cache (\(newest.key.prefix(8))); pass --bst PATH for the current one")
            }
            return [newest]
        }
        let entries = try show.entries(of: element, runtime: runtime)
        guard !entries.isEmpty else { throw ProjectError("bst show \(element) listed nothing") }
        return try entries.map { entry throws(CASError) in
            guard let key = entry.key else {
                throw CASError(.notFound, "bst cannot compute the cache key of \(entry.name) (state: \(entry.state)): track its sources first ('bst source track \(entry.name)')")
            }
            return BuildStreamArtifactName(project: try projectName(of: entry.name, key: key, in: project), element: Self.localName(entry.name), key: key)
        }
    }

    /// `lib.bst` of `junction.bst:lib.bst`.
    static func localName(_ element: String) -> String {
        element.split(separator: ":").last.map(String.init) ?? element
    }

    /// The project an element's artifacts are filed under: the top project's, or for an
    /// element behind a junction the subproject's, found by its key among the local refs.
    private func projectName(of element: String, key: String, in project: Project) throws(CASError) -> String {
        guard element.contains(":") else { return project.name }
        let refs = artifacts.configuration.cacheDirectory + "/artifacts/refs"
        let normal = BuildStreamArtifactName.normalName(of: Self.localName(element))
        for candidate in (try? FileManager.default.contentsOfDirectory(atPath: refs)) ?? []
        where FileManager.default.fileExists(atPath: "\(refs)/\(candidate)/\(normal)/\(key)") {
            return candidate
        }
        throw CASError(.notFound, "\(element) is behind a junction and its artifact \(key.prefix(8)) is not in the local cache, so its project's name is unknown: name it bst:SUBPROJECT/\(normal)/\(key)")
    }
}

extension BuildStreamArtifacts {
    /// Copies the Directory nodes under `root` that BuildStream's local CAS has and `store`
    /// lacks (nodes are small; file blobs stay where they are until read).
    /// - Returns: how many nodes are still missing (to fetch from the remote).
    public func importDirectories(under root: Digest, into store: LocalContentStore) throws(CASError) -> Int {
        let tree = LocalTree(store: store)
        var missing = try tree.missingDirectories(under: root)
        guard let localCAS else { return missing.count }
        while !missing.isEmpty {
            let here = missing.filter(localCAS.contains)
            guard !here.isEmpty else { break }
            for digest in here { try store.put(try localCAS.read(digest), expecting: digest) }
            missing = try tree.missingDirectories(under: root)
        }
        return missing.count
    }
}
