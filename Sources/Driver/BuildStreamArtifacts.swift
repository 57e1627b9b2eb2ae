import Foundation
import LocalCAS
import RemoteCAS

/// Where BuildStream keeps its artifacts for one user (and project), and how lazycas gets an
/// `Artifact` record from there: the local cache's ref files first, then each artifact server
/// with BuildStream's URN (Remote Asset FetchBlob), the record itself from a CAS.
public struct BuildStreamArtifacts: Sendable {
    public let configuration: BuildStreamConfiguration
    /// The project around the command (its name and recommended artifact servers), if any.
    public let project: Project?
    /// BuildStream's local CAS (`CACHEDIR/cas`, buildbox-casd's), when there is one.
    public let localCAS: LocalContentStore?

    public init(configuration: BuildStreamConfiguration, project: Project?) {
        self.configuration = configuration
        self.project = project
        localCAS = try? LocalContentStore(readingFrom: configuration.cacheDirectory + "/cas")
    }

    /// Where a record was found.
    public enum Origin: Sendable {
        case localCache(String)
        case server(BuildStreamRemoteSpec)
    }

    /// A record, where it was found, and the remote CAS its trees and blobs are read from
    /// (nil: BuildStream's local CAS alone).
    public struct Located: Sendable {
        public let artifact: BuildStreamArtifact
        public let origin: Origin
        public let content: BuildStreamRemoteSpec?
    }

    /// The artifact servers for `project`'s artifacts, in BuildStream's order.
    public func artifactRemotes(for project: String) -> [BuildStreamRemoteSpec] {
        configuration.artifactRemotes(for: project, recommended: self.project?.name == project ? self.project!.artifactRemotes : [])
    }

    /// The newest artifact of `element` in the local cache (ref files ordered by mtime, which
    /// BuildStream bumps on every use), or nil.
    public func newestLocal(project: String, element: String) -> BuildStreamArtifactName? {
        let normal = BuildStreamArtifactName.normalName(of: element)
        let directory = "\(configuration.cacheDirectory)/artifacts/refs/\(project)/\(normal)"
        let keys = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter(BuildStreamArtifactName.isKey)
        func mtime(_ key: String) -> Date {
            ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + key))?[.modificationDate] as? Date) ?? .distantPast
        }
        return keys.max { mtime($0) < mtime($1) }.map { BuildStreamArtifactName(project: project, element: normal, key: $0) }
    }

    /// The record `name` names: from the local cache, else from the first artifact server that
    /// knows it.
    /// - Throws: `.notFound` naming every place asked (and why a server could not answer).
    public func locate(_ name: BuildStreamArtifactName) async throws -> Located {
        let refPath = name.refPath(in: configuration.cacheDirectory)
        if let data = FileManager.default.contents(atPath: refPath) {
            return Located(artifact: try BuildStreamArtifact(name: name, data: data), origin: .localCache(refPath),
                           content: contentRemote(foundOn: nil, project: name.project))
        }
        let remotes = artifactRemotes(for: name.project)
        var asked: [String] = ["the local cache \(configuration.cacheDirectory)"]
        for index in remotes where index.isIndex {
            do {
                if let found = try await record(name, on: index) { return found }
                asked.append(index.url)
            } catch let error as CASError where error.code == .remote {
                asked.append("\(index.url) (\(error.description))")
            }
        }
        let hint = remotes.isEmpty ? " (no artifact servers are configured: 'artifacts: servers:' in buildstream.conf, or 'artifacts:' in project.conf)" : ""
        throw CASError(.notFound, "artifact \(name) is in no configured cache: asked \(asked.joined(separator: ", "))\(hint); build it with 'bst build', or pull it with 'bst artifact pull'")
    }

    /// The record `name` names on the artifact server `index` (its Remote Asset), read from the
    /// server that holds its blobs; nil when `index` knows no such name.
    private func record(_ name: BuildStreamArtifactName, on index: BuildStreamRemoteSpec) async throws -> Located? {
        try await RemoteConnection.with(try index.configuration()) { connection in
            guard let digest = try await AssetClient(connection: connection).fetchBlob(uri: name.urn) else { return nil }
            let storage = contentRemote(foundOn: index, project: name.project)
            let data: Data
            if storage == index {
                data = try await connection.store.data(digest)
            } else if let storage {
                data = try await RemoteConnection.with(try storage.configuration()) { try await $0.store.data(digest) }
            } else {
                throw CASError(.notFound, "artifact \(name) is named on \(index.url) (type index), but no artifact server of type storage or all is configured to read it from")
            }
            guard Digest(data: data) == digest else { throw CASError(.corrupt, "the record of artifact \(name) from \(index.url) does not match its digest \(digest)") }
            return Located(artifact: try BuildStreamArtifact(name: name, data: data), origin: .server(index), content: storage)
        }
    }

    /// Where the trees of an artifact are read: the server it was found on when that one holds
    /// blobs, else the storage service BuildStream builds against, else the first artifact
    /// server that holds blobs, else the execution service's CAS; nil when none is configured.
    func contentRemote(foundOn server: BuildStreamRemoteSpec?, project: String) -> BuildStreamRemoteSpec? {
        if let server, server.isStorage { return server }
        return configuration.storageService
            ?? artifactRemotes(for: project).first(where: \.isStorage)
            ?? configuration.executionStorage
    }
}
