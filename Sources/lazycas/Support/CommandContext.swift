import Driver
import Foundation
import LocalCAS
import RemoteCAS

/// What a command works with: the config, the local store, and (when one is configured) a
/// connection to the remote CAS. Built once at the start of `run()`.
struct CommandContext {
    let config: ConfigFile
    let store: LocalContentStore
    var remote: RemoteConfiguration?
    /// Blobs on this machine outside lazycas's cache (BuildStream's local CAS, for `bst:`
    /// trees), read before the remote.
    var nearby: LocalContentStore?
    /// `-C DIR`: the project for `NAME.bst` trees (default: around the current directory).
    var projectDirectory: String?
    /// Print an RPC summary after remote work.
    let verbose: Bool
    /// The flags the remote came from, for connecting to the other servers an artifact names.
    let remoteOptions: RemoteOptions?
    /// Re-create blobs the remote lost (not `--no-heal`).
    var heals: Bool
    /// `-o NAME VALUE` project options.
    let projectOptions: [(String, String)]

    init(global: GlobalOptions, remote: RemoteOptions?, heal: HealOptions? = nil) throws(CASError) {
        config = try global.loadConfig()
        store = try global.openStore(config)
        self.remote = try remote?.configuration(config)
        verbose = global.verbose
        remoteOptions = remote
        heals = heal.map { !$0.noHeal } ?? false
        projectOptions = try global.projectOptions()
    }

    /// Opens the configured remote for reads through the local cache, healing lost blobs of
    /// artifacts built here (`root`'s first) unless `--no-heal`.
    func open(_ connection: RemoteConnection?, reading root: Digest? = nil) throws(CASError) -> OpenRemote {
        OpenRemote(connection: connection, store: store, healer: try connection.flatMap { c throws(CASError) in try healer(for: c, reading: root) },
                   nearby: nearby)
    }

    /// The remote and nearby stores a tree's content comes from, open (nil when there are none).
    func openContent(reading root: Digest? = nil) throws(CASError) -> OpenRemote? {
        guard remote != nil || nearby != nil else { return nil }
        return try open(try remote.map { c throws(CASError) in try RemoteConnection(c) }, reading: root)
    }

    /// The healer of blobs `connection`'s CAS lost, or nil with `--no-heal`.
    func healer(for connection: RemoteConnection, reading root: Digest? = nil) throws(CASError) -> ArtifactHealer? {
        guard heals else { return nil }
        let (options, file) = (remoteOptions ?? RemoteOptions(), config)
        return try ArtifactHealer(store: store, cas: connection, preferring: root) { url, instance throws(CASError) in
            var configuration = try options.configuration(url: url, file)
            configuration.instance = instance
            return try RemoteConnection(configuration)
        }
    }

    var refs: RefStore {
        get throws(CASError) { try RefStore(root: store.root) }
    }

    /// Resolves `text` as `HASH/SIZE`, else as a ref name, else (`NAME.bst`) as an element of
    /// the project around the current directory: its artifact for the current inputs.
    func resolveTree(_ text: String) throws -> Digest {
        let digestError: CASError
        do { return try Digest(parsing: text) } catch { digestError = error }
        if (try? RefStore.validate(text)) != nil, let digest = try? refs.get(text) { return digest }
        if text.hasSuffix(".bst") {
            return try ArtifactResolver(project: try project(projectDirectory), store: store)
                .artifact(of: text).root
        }
        throw CASError(.invalidArgument, "'\(text)' is neither a digest nor a known ref (as a digest: \(digestError.description))")
    }

    /// The project in `directory` (`-C`), else around the current directory, with the `-o` options.
    func project(_ directory: String?) throws(ProjectError) -> Project {
        try Project.locate(from: directory.map(expandingTilde) ?? FileManager.default.currentDirectoryPath, options: projectOptions)
    }

    /// Runs `body` with the configured remote open (reading `root`) — or, for a tree whose
    /// content is on this machine already (``nearby``), with that alone — or fails if there is
    /// neither.
    func withRemote<T: Sendable>(for command: String, reading root: Digest? = nil, _ body: (OpenRemote) async throws -> T) async throws -> T {
        guard let remote else {
            guard nearby != nil else {
                throw CASError(.invalidArgument, "\(command) needs a remote: pass --remote URL or set 'remote:' in the config file")
            }
            return try await body(try open(nil))
        }
        let metrics = Metrics()
        defer { if verbose { Terminal.note(metrics.snapshot.summary) } }
        return try await RemoteConnection.with(remote, metrics: metrics) { connection in
            let open = try self.open(connection, reading: root)
            do {
                let result = try await body(open)
                await open.healer?.close()
                return result
            } catch {
                await open.healer?.close()
                throw error
            }
        }
    }
}
