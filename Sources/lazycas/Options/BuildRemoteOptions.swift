import ArgumentParser
import Driver
import LocalCAS
import RemoteCAS

/// The per-service remotes of a build, in BuildBox's spelling: `--remote` names every service,
/// `--exec-remote`, `--cas-remote` and `--ac-remote` override one each; `--artifact-remote` is
/// where artifacts are pushed (it may be another server), only with `--artifact-push`.
struct BuildRemoteOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Execution service (default: --remote); its CAS and ActionCache too unless overridden.", valueName: "url"))
    var execRemote: String?

    @Option(name: .long, help: ArgumentHelp("CAS service (default: --exec-remote, else --remote).", valueName: "url"))
    var casRemote: String?

    @Option(name: .long, help: ArgumentHelp("ActionCache service (default: --exec-remote, else --remote).", valueName: "url"))
    var acRemote: String?

    @Option(name: .long, help: ArgumentHelp("Artifact cache: a CAS with Remote Asset, where built artifacts are pushed.", valueName: "url"))
    var artifactRemote: String?

    @Flag(name: .long, help: "Allow pushing artifacts to --artifact-remote (config: artifact-push: true).")
    var artifactPush = false

    /// Opens a connection per distinct server, all counted in `metrics`, and runs `body`
    /// with the remotes (nil when no remote is configured and none is `required`).
    func withRemotes<T: Sendable>(_ remote: RemoteOptions, context: CommandContext, metrics: Metrics, required: Bool,
                                  _ body: (BuildRemotes?) async throws -> T) async throws -> T {
        let file = context.config
        let general = remote.remote ?? file.remote
        let exec = execRemote ?? file.execRemote ?? general
        let urls = (cas: casRemote ?? file.casRemote ?? exec, ac: acRemote ?? file.acRemote ?? exec,
                    exec: exec, artifact: artifactRemote ?? file.artifactRemote)
        guard let casURL = urls.cas, let acURL = urls.ac, let execURL = urls.exec else {
            if required {
                throw CASError(.invalidArgument, "building needs a remote: pass --remote URL (or --exec-remote) or set 'remote:' in the config file")
            }
            return try await body(nil)
        }
        let push = artifactPush || (file.artifactPush ?? false)
        if push && urls.artifact == nil {
            throw CASError(.invalidArgument, "--artifact-push needs --artifact-remote (or 'artifact-remote:' in the config)")
        }
        var connections: [String: RemoteConnection] = [:]
        func connection(_ url: String) throws -> RemoteConnection {
            if let open = connections[url] { return open }
            let made = try RemoteConnection(try remote.configuration(url: url, file), metrics: metrics)
            connections[url] = made
            return made
        }
        do {
            let artifactCache = try urls.artifact.map { ArtifactCache(connection: try connection($0), push: push) }
            let cas = try connection(casURL)
            let healer = try context.healer(for: cas)
            let remotes = BuildRemotes(cas: cas, actionCache: try connection(acURL),
                                       execution: try connection(execURL), artifactCache: artifactCache, healer: healer)
            let result = try await body(remotes)
            await healer?.close()
            for open in connections.values { await open.close() }
            return result
        } catch {
            for open in connections.values { await open.close() }
            throw error
        }
    }
}
