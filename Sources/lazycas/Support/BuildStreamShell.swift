import Driver
import Foundation
import LocalCAS

/// What `lazycas shell bst:…` enters, as `bst shell` stages it but composed by reference.
struct BuildStreamShell {
    var tree: ShellTree
    /// Integration commands of the staged artifacts, run (`sh -e`) before the command.
    var integration: [String]
    /// Reads the tree's content.
    var context: CommandContext

    /// The runtime closure of `reference` (element and runtime dependencies, in staging order,
    /// from the artifacts of their current keys) with the element's environment, the
    /// project's `shell: environment:` and the integration commands; or with `build` the
    /// artifact's cached build sandbox (`buildroot`, its environment and working directory).
    static func make(_ reference: String, build: Bool, options: BuildStreamOptions, base: CommandContext) async throws -> BuildStreamShell {
        let resolver = try base.buildStream(options)
        let project = resolver.artifacts.project
        if build {
            let located = try await resolver.locate(reference)
            let artifact = located.artifact
            guard let buildroot = artifact.buildroot else {
                throw CASError(.notFound, "\(artifact.name) has no cached build sandbox: BuildStream keeps one only for failed builds by default; rebuild with 'bst --cache-buildtrees always build \(reference)' (or set 'cache: cache-buildtrees: always' in buildstream.conf)")
            }
            if !artifact.succeeded { Terminal.note("\(artifact.name): this build failed (\(artifact.error)); entering its build sandbox") }
            let context = try base.reading(located, root: buildroot, from: resolver.artifacts)
            var environment: [String: String]
            if let sandbox = artifact.sandbox {
                environment = sandbox.environment
            } else {
                environment = try await context.withRemote(for: "shell") { try await artifact.environment(from: $0.content) }
            }
            environment.merge(shellEnvironment(project, name: artifact.name)) { _, shell in shell }
            return BuildStreamShell(tree: ShellTree(root: buildroot, environment: environment, workingDirectory: artifact.sandbox?.workingDirectory ?? "/"),
                                    integration: [], context: context)
        }
        let closure = try await resolver.runtimeClosure(of: reference)
        let element = closure.last!
        let layers = try closure.map { located throws(CASError) in
            TreeComposer.Layer(root: try located.artifact.outputFiles(), label: located.artifact.name.description)
        }
        let context = try base.reading(element, root: layers.last!.root, from: resolver.artifacts)
        var incomplete = false
        for layer in layers { incomplete = try resolver.artifacts.importDirectories(under: layer.root, into: base.store) > 0 || incomplete }
        let (environment, integration) = try await context.withRemote(for: "shell") { remote in
            if incomplete { for layer in layers { try await remote.trees.fetchTree(layer.root) } }
            var commands: [String] = []
            for located in closure { commands += try await located.artifact.integrationCommands(from: remote.content) }
            return (try await element.artifact.environment(from: remote.content), commands)
        }
        let root = try TreeComposer(store: base.store).overlay(layers)
        return BuildStreamShell(tree: ShellTree(root: root, environment: environment.merging(shellEnvironment(project, name: element.artifact.name)) { _, shell in shell },
                                                workingDirectory: "/"),
                                integration: integration, context: context)
    }

    /// The project's `shell: environment:` (host variables expanded, as bst does) and bst's prompt.
    private static func shellEnvironment(_ project: Project?, name: BuildStreamArtifactName) -> [String: String] {
        var environment = (project?.shellEnvironment ?? [:]).mapValues { BuildStreamConfiguration.expand($0, ProcessInfo.processInfo.environment) }
        environment["PS1"] = "[\(name.key.prefix(8))@\(name.element):${PWD}]$ "
        return environment
    }

    /// `argv`, preceded by the integration commands (each run with `sh -e`, as BuildStream runs them).
    static func integrated(_ argv: [String], _ commands: [String]) -> [String] {
        guard !commands.isEmpty else { return argv }
        return ["/bin/sh", "-e", "-c", commands.joined(separator: "\n") + "\nexec \"$@\"", "sh"] + argv
    }
}
