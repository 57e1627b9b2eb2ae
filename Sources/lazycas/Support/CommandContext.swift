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

    /// Resolves `text` as `HASH/SIZE` or, failing that, as a ref name.
    func resolveTree(_ text: String) throws(CASError) -> Digest {
        let digestError: CASError
        do { return try Digest(parsing: text) } catch { digestError = error }
        if (try? RefStore.validate(text)) != nil, let digest = try? refs.get(text) { return digest }
        throw CASError(.invalidArgument, "'\(text)' is neither a digest nor a known ref (as a digest: \(digestError.description))")
    }

    /// Runs `body` with a fetcher on the configured remote, or fails if none is configured.
    func withRemote<T: Sendable>(for command: String, _ body: (BlobFetcher) async throws -> T) async throws -> T {
        guard let remote else {
            throw CASError(.invalidArgument, "\(command) needs a remote: pass --remote URL or set 'remote:' in the config file")
        }
        let counters = RPCCounters()
        defer { if verbose { Terminal.note(counters.snapshot.summary) } }
        return try await RemoteConnection.with(remote, counters: counters) { connection in
            try await body(BlobFetcher(client: CASClient(connection: connection), store: store))
        }
    }
}
