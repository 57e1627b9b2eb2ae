import Foundation
import LocalCAS
import REAPI
import SwiftProtobuf

/// One artifact BuildStream built: its `buildstream.v2.Artifact` record, with every digest in it
/// checked. The trees (`files`, `buildtree`, `buildroot`) and blobs (logs, metadata) it names
/// live in a CAS: BuildStream's local one, its storage service, or an artifact server.
public struct BuildStreamArtifact: Sendable {
    public let name: BuildStreamArtifactName
    /// The record's own digest (what an artifact server's Remote Asset maps the name to).
    public let digest: Digest
    public let succeeded: Bool
    /// BuildStream's words when the build failed (`build_error`, `build_error_details`).
    public let error: String
    /// The element's output (the install root), a Directory; nil for a failed build.
    public let files: Digest?
    /// `%{build-root}` after the build, the sandbox's whole root, and the sandbox state, when
    /// the build tree was cached (`cache-buildtrees: always`, or `auto` and the build failed).
    public let buildtree: Digest?
    public let buildroot: Digest?
    public let sandbox: Sandbox?
    public let logs: [(name: String, digest: Digest)]
    /// YAML blobs: `environment:` + `sandbox-config:`, and the element's public data.
    public let lowDiversityMeta: Digest?
    public let publicData: Digest?
    /// The build dependencies it was built with (project, element name, key), in staging order.
    public let buildDependencies: [BuildStreamArtifactName]

    /// The environment and working directory of the build sandbox.
    public struct Sandbox: Sendable {
        public let environment: [String: String]
        public let workingDirectory: String
    }

    /// Decodes a record (a ref file's bytes, or the blob a Remote Asset names).
    /// - Throws: `.corrupt` for bytes that are no Artifact or hold a malformed digest.
    public init(name: BuildStreamArtifactName, data: Data) throws(CASError) {
        let proto: Buildstream_V2_Artifact
        do {
            proto = try Buildstream_V2_Artifact(serializedBytes: data)
        } catch {
            throw CASError(.corrupt, "artifact \(name): not a BuildStream Artifact record", cause: error)
        }
        func digest(_ value: Build_Bazel_Remote_Execution_V2_Digest, _ field: String) throws(CASError) -> Digest {
            do {
                return try Digest(value)
            } catch {
                throw CASError(.corrupt, "artifact \(name): malformed \(field) digest", cause: error)
            }
        }
        self.name = name
        self.digest = Digest(data: data)
        succeeded = proto.buildSuccess
        error = [proto.buildError, proto.buildErrorDetails].filter { !$0.isEmpty }.joined(separator: ": ")
        files = proto.hasFiles ? try digest(proto.files, "files") : nil
        buildtree = proto.hasBuildtree ? try digest(proto.buildtree, "buildtree") : nil
        buildroot = proto.hasBuildroot ? try digest(proto.buildroot, "buildroot") : nil
        sandbox = proto.hasBuildsandbox
            ? Sandbox(environment: Dictionary(proto.buildsandbox.environment.map { ($0.name, $0.value) }) { _, last in last },
                      workingDirectory: proto.buildsandbox.workingDirectory)
            : nil
        var logs: [(name: String, digest: Digest)] = []
        for log in proto.logs { logs.append((log.name, try digest(log.digest, "log"))) }
        self.logs = logs
        lowDiversityMeta = proto.hasLowDiversityMeta ? try digest(proto.lowDiversityMeta, "low_diversity_meta") : nil
        publicData = proto.hasPublicData ? try digest(proto.publicData, "public_data") : nil
        buildDependencies = proto.buildDeps.map { BuildStreamArtifactName(project: $0.projectName, element: $0.elementName, key: $0.cacheKey) }
    }

    /// ``files``, or an error saying why there are none and what there is instead.
    public func outputFiles() throws(CASError) -> Digest {
        guard let files else {
            let instead = buildroot != nil ? ": its build sandbox is cached, enter it with 'lazycas shell --build' or mount it with --buildtree" : ""
            throw CASError(.notFound, "artifact \(name) has no files: the build failed (\(error))\(instead)")
        }
        return files
    }

    /// The element's environment as recorded (`environment:` of the low-diversity metadata).
    public func environment(from store: any ContentStore) async throws -> [String: String] {
        guard let meta = try await yaml(lowDiversityMeta, from: store, what: "metadata") else { return [:] }
        return try meta["environment"]?.stringMap("'environment'") ?? [:]
    }

    /// The element's integration commands (`bst: integration-commands:` of its public data).
    public func integrationCommands(from store: any ContentStore) async throws -> [String] {
        guard let data = try await yaml(publicData, from: store, what: "public data") else { return [] }
        return try data["bst"]?["integration-commands"]?.strings("'integration-commands'") ?? []
    }

    private func yaml(_ blob: Digest?, from store: any ContentStore, what: String) async throws -> YAMLNode? {
        guard let blob else { return nil }
        let data = try await store.data(blob)
        guard Digest(data: data) == blob else { throw CASError(.corrupt, "the \(what) blob \(blob) of artifact \(name) does not match its digest") }
        return try YAMLNode.parse(String(decoding: data, as: UTF8.self), shownAs: "\(what) of \(name)")
    }
}
