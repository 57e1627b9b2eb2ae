import Foundation
import Glibc
import LocalCAS

/// The artifacts built on this machine: `CACHE/artifacts/PROJECT/ELEMENT/KEY.json` records,
/// the refs `PROJECT/ELEMENT/KEY` → root Directory that every other command understands, and
/// the index back from a root Directory to its record (`CACHE/artifacts/roots/HASH-SIZE`, which
/// holds the ref name), so that a tree mounted by digest is known as the artifact it is.
///
/// A record is written only after the artifact's Directory nodes are local, to a temp file and
/// renamed, so a build that fails or is interrupted leaves no artifact behind.
public struct ArtifactStore: Sendable {
    public let store: LocalContentStore
    public let refs: RefStore
    let directory: String

    public init(store: LocalContentStore) throws(CASError) {
        self.store = store
        refs = try RefStore(root: store.root)
        directory = store.root + "/artifacts"
        try makeDirectories(directory)
    }

    private func recordPath(project: String, element: String, key: String) -> String {
        "\(directory)/\(project)/\(element)/\(key).json"
    }

    /// Records `artifact` and points its ref at its root.
    public func record(_ artifact: Artifact) throws(CASError) {
        try RefStore.validate(artifact.refName)
        let path = recordPath(project: artifact.project, element: artifact.element, key: artifact.key)
        try makeDirectories(String(path[..<path.lastIndex(of: "/")!]))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data: Data
        do { data = try encoder.encode(artifact) } catch {
            throw CASError(.io, "cannot encode the record of \(artifact.refName)", cause: error)
        }
        try AtomicFile.write(data, to: path)
        try refs.set(artifact.refName, to: artifact.root)
        try makeDirectories(directory + "/roots")
        try AtomicFile.write(Data(artifact.refName.utf8), to: rootIndexPath(artifact.root))
    }

    private func rootIndexPath(_ root: Digest) -> String {
        "\(directory)/roots/\(root.hash)-\(root.sizeBytes)"
    }

    /// The newest recorded artifact whose root is `root`: by the index, else (a record
    /// written before the index existed) by looking through every record.
    public func artifact(root: Digest) -> Artifact? {
        if let data = FileManager.default.contents(atPath: rootIndexPath(root)),
           let recorded = artifact(ref: String(decoding: data, as: UTF8.self)), recorded.root == root {
            return recorded
        }
        return all().first { $0.root == root }
    }

    /// The artifact of `element` with `key`, if one was recorded.
    public func artifact(project: String, element: String, key: String) -> Artifact? {
        let path = recordPath(project: project, element: element, key: key)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return Self.decode(data)
    }

    /// Every recorded artifact, newest first.
    public func all() -> [Artifact] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var result: [Artifact] = []
        while let relative = enumerator.nextObject() as? String {
            guard relative.hasSuffix(".json"), !relative.hasPrefix("roots/"),
                  let data = FileManager.default.contents(atPath: directory + "/" + relative),
                  let artifact = Self.decode(data) else { continue }
            result.append(artifact)
        }
        return result.sorted { ($0.recorded, $0.refName) > ($1.recorded, $1.refName) }
    }

    /// The artifact a ref name `PROJECT/ELEMENT/KEY` stands for.
    public func artifact(ref: String) -> Artifact? {
        let parts = ref.split(separator: "/").map(String.init)
        guard parts.count >= 3 else { return nil }
        return artifact(project: parts[0], element: parts[1..<(parts.count - 1)].joined(separator: "/"), key: parts.last!)
    }

    private static func decode(_ data: Data) -> Artifact? {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(Artifact.self, from: data)
    }
}

private func makeDirectories(_ path: String) throws(CASError) {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw CASError(.io, "cannot create directory \(path)", cause: error)
    }
}
