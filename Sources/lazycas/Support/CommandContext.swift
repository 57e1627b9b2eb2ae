import Driver
import Foundation
import LocalCAS
import RemoteCAS

/// What a command works with: the config, the local store, and (when one is configured) a
/// connection to the remote CAS. Built once at the start of `run()`.
struct CommandContext {
    let config: ConfigFile
    let store: LocalContentStore
    let remote: RemoteConfiguration?
    /// Print an RPC summary after remote work.
    let verbose: Bool

    init(global: GlobalOptions, remote: RemoteOptions?) throws(CASError) {
        config = try global.loadConfig()
        store = try global.openStore(config)
        self.remote = try remote?.configuration(config)
        verbose = global.verbose
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
            return try ArtifactResolver(project: try Self.project(nil), store: store)
                .artifact(of: text).root
        }
        throw CASError(.invalidArgument, "'\(text)' is neither a digest nor a known ref (as a digest: \(digestError.description))")
    }

    /// The project in `directory` (`-C`), else around the current directory.
    static func project(_ directory: String?) throws(ProjectError) -> Project {
        try Project.locate(from: directory.map(expandingTilde) ?? FileManager.default.currentDirectoryPath)
    }

    /// Runs `body` with the configured remote open, or fails if none is configured.
    func withRemote<T: Sendable>(for command: String, _ body: (OpenRemote) async throws -> T) async throws -> T {
        guard let remote else {
            throw CASError(.invalidArgument, "\(command) needs a remote: pass --remote URL or set 'remote:' in the config file")
        }
        let metrics = Metrics()
        defer { if verbose { Terminal.note(metrics.snapshot.summary) } }
        return try await RemoteConnection.with(remote, metrics: metrics) { connection in
            try await body(OpenRemote(connection: connection, store: store))
        }
    }
}

/// The configured remote, open for one command: its connection, and reads of its CAS that land
/// in the local cache.
struct OpenRemote: Sendable {
    let connection: RemoteConnection
    /// Reads through the local cache (``ReadCachingContentStore``).
    let content: ReadCachingContentStore

    init(connection: RemoteConnection, store: LocalContentStore) {
        self.connection = connection
        content = ReadCachingContentStore(fast: store, slow: connection.store)
    }

    /// Brings Directory nodes into the local cache.
    var trees: TreeFetcher { TreeFetcher(store: content.fast, through: content, server: connection.cas) }
}
