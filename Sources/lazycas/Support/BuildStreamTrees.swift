import Driver
import Foundation
import LocalCAS

/// `bst:` tree arguments: BuildStream's own artifacts, as trees lazycas mounts, enters,
/// checks out and lists. The artifact's Directory nodes come into the local cache (from
/// BuildStream's local CAS when it has them, else the remote); file blobs stay where they are
/// until read.
extension CommandContext {
    /// Whether `text` names a BuildStream artifact.
    static func isBuildStream(_ text: String) -> Bool { text.hasPrefix("bst:") }

    /// A resolver over BuildStream's configuration (and the project around, if any).
    func buildStream(_ options: BuildStreamOptions) throws -> BuildStreamResolver {
        let configuration = try BuildStreamConfiguration.load(explicitFile: options.bstConfig.map(expandingTilde))
        let project = try? self.project(options.directory)
        let show = BuildStreamShow.locate(explicit: options.bstPath.map(expandingTilde)).flatMap { executable in
            project.map { BuildStreamShow(executable: executable, configFile: options.bstConfig.map(expandingTilde), projectDirectory: $0.root) }
        }
        return BuildStreamResolver(artifacts: BuildStreamArtifacts(configuration: configuration, project: project), show: show,
                                   note: { Terminal.note($0) })
    }

    /// This context, reading `located`'s content: from its remote (with BuildStream's local CAS
    /// in front), with the Directory nodes under `root` that BuildStream has locally copied in.
    /// Healing is off: lazycas cannot rebuild what bst built.
    func reading(_ located: BuildStreamArtifacts.Located, root: Digest?, from artifacts: BuildStreamArtifacts) throws -> CommandContext {
        var context = self
        context.remote = try located.content.map { try $0.configuration() }
        context.nearby = artifacts.localCAS
        context.heals = false
        guard let root else { return context }
        let missing = try artifacts.importDirectories(under: root, into: store)
        if missing > 0 && context.remote == nil {
            throw CASError(.notFound, "\(located.artifact.name): \(missing) Directory nodes of \(root) are not in BuildStream's local cache, and no remote holds them (configure 'cache: storage-service:' or 'artifacts: servers:' in buildstream.conf)")
        }
        return context
    }

    /// Which tree of an artifact a command wants.
    enum ArtifactPart {
        case files, buildtree, buildroot
    }

    /// Resolves `text` — a `bst:` artifact, or anything ``resolveTree(_:)`` takes — to a root
    /// and the context that reads its content.
    func resolve(_ text: String, _ options: BuildStreamOptions, part: ArtifactPart = .files) async throws -> (Digest, CommandContext) {
        guard Self.isBuildStream(text) else {
            if part != .files { throw CASError(.invalidArgument, "only a bst: artifact has a build tree, not '\(text)'") }
            var context = self
            if text.hasSuffix(".bst"), options.directory != nil { context.projectDirectory = options.directory }
            return (try context.resolveTree(text), context)
        }
        let resolver = try buildStream(options)
        let located = try await resolver.locate(String(text.dropFirst(4)))
        let artifact = located.artifact
        let root: Digest
        switch part {
        case .files:
            root = try artifact.outputFiles()
        case .buildtree, .buildroot:
            guard let tree = part == .buildtree ? artifact.buildtree : artifact.buildroot else {
                throw CASError(.notFound, "\(artifact.name) has no cached build tree: BuildStream keeps one only for failed builds by default; rebuild with 'bst --cache-buildtrees always build ELEMENT' (or set 'cache: cache-buildtrees: always' in buildstream.conf)")
            }
            root = tree
        }
        return (root, try reading(located, root: root, from: resolver.artifacts))
    }
}
