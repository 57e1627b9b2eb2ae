import ArgumentParser
import Driver
import Foundation
import LocalCAS
import RemoteCAS

/// `lazycas artifact …`: what builds produced.
struct ArtifactCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "artifact",
        abstract: "List built artifacts and show their build logs.",
        subcommands: [List.self, Log.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the artifacts built with this cache, newest first: ref, root digest, how it was made.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let store = try global.openStore(try global.loadConfig())
            for artifact in try ArtifactStore(store: store).all() {
                let how = artifact.action == nil ? "local" : artifact.cached ? "cached" : "built"
                print("\(artifact.refName) \(artifact.root) \(how) \(ISO8601DateFormatter().string(from: artifact.recorded))")
            }
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the build log (stdout, then stderr) of an element's artifact.",
            discussion: "ELEMENT is a name like hello.bst (its artifact for the current inputs, in the project around the current directory) or an artifact ref PROJECT/ELEMENT/KEY. Logs not in the local cache are fetched from --remote. bst:ELEMENT or bst:PROJECT/ELEMENT/KEY prints the build log BuildStream recorded in its artifact.")
        @Argument(help: "hello.bst, PROJECT/ELEMENT/KEY, bst:ELEMENT or bst:PROJECT/ELEMENT/KEY.") var element: String
        @OptionGroup var bst: BuildStreamOptions
        @OptionGroup var remote: RemoteOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let context = try CommandContext(global: global, remote: remote)
            if CommandContext.isBuildStream(element) { return try await buildStreamLog(context) }
            let artifacts = try ArtifactStore(store: context.store)
            let artifact: Artifact
            if let byRef = artifacts.artifact(ref: element) {
                artifact = byRef
            } else if element.hasSuffix(".bst") {
                let project = try context.project(bst.directory)
                artifact = try ArtifactResolver(project: project, store: context.store).artifact(of: element)
            } else {
                throw CASError(.invalidArgument, "'\(element)' is neither an element name (NAME.bst) nor a known artifact ref")
            }
            let logs = [artifact.stdout, artifact.stderr].compactMap { $0 }
            guard !logs.isEmpty else {
                throw CASError(.notFound, "\(artifact.refName) has no build log (\(artifact.action == nil ? "nothing ran to make it" : "none was recorded"))")
            }
            let missing = context.store.missing(logs)
            if !missing.isEmpty {
                try await context.withRemote(for: "artifact log") { remote in try await remote.content.fetchAll(missing) }
            }
            for log in logs { FileHandle.standardOutput.write(try context.store.read(log)) }
        }

        /// The logs BuildStream recorded in a `bst:` artifact, in order.
        private func buildStreamLog(_ base: CommandContext) async throws {
            let resolver = try base.buildStream(bst)
            let located = try await resolver.locate(String(element.dropFirst(4)))
            let logs = located.artifact.logs
            guard !logs.isEmpty else { throw CASError(.notFound, "\(located.artifact.name) records no build log") }
            let context = try base.reading(located, root: nil, from: resolver.artifacts)
            let missing = context.store.missing(logs.map(\.digest))
            if !missing.isEmpty {
                try await context.withRemote(for: "artifact log") { remote in try await remote.content.fetchAll(missing) }
            }
            for log in logs { FileHandle.standardOutput.write(try context.store.read(log.digest)) }
        }
    }
}
