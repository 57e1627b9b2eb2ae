import ArgumentParser
import LocalCAS
import Mount
import RemoteCAS

/// `--no-profile` and `--prefetch-budget`, on mount, shell and worker: access profiles
/// (``AccessProfile``) — what the last session of the same kind read, fetched before it is asked
/// for, and what this one reads, remembered.
struct ProfileOptions: ParsableArguments {
    @Flag(name: .customLong("no-profile"), help: "Neither record what is read nor prefetch what the last session of this tree (element, ref or action shape) read.")
    var noProfile = false

    @Option(name: .long, help: ArgumentHelp("Bytes the access profile's prefetch may fetch, e.g. 64M (default: what the profile's files take, at most 256M; 0: record only).", valueName: "size"))
    var prefetchBudget: String?

    func validate() throws {
        if let prefetchBudget, Serve.bytes(prefetchBudget) == nil {
            throw ValidationError("--prefetch-budget '\(prefetchBudget)' is not a size: use bytes or a number with K, M, G or T (e.g. 64M)")
        }
    }

    /// Whether profiles are on: no `--no-profile`, and not `profiles: false` in the config file.
    func enabled(_ config: ConfigFile) -> Bool { !noProfile && config.profiles != false }

    /// `--prefetch-budget`, else the config file's `prefetch-budget`; nil: the default.
    /// - Throws: when the config file's value is not a size.
    func budget(_ config: ConfigFile) throws(CASError) -> Int64? {
        if let prefetchBudget { return Serve.bytes(prefetchBudget) }
        guard let text = config.prefetchBudget else { return nil }
        guard let bytes = Serve.bytes(text) else {
            throw CASError(.invalidArgument, "prefetch-budget '\(text)' in the config file is not a size: use bytes or a number with K, M, G or T (e.g. 64M)")
        }
        return bytes
    }

    /// The session of `key` (nil: a bare digest, or profiles off), starting from its stored
    /// profile.
    func session(_ key: String?, store: ProfileStore, config: ConfigFile) throws(CASError) -> ProfileSession? {
        guard let key, enabled(config) else { return nil }
        return ProfileSession(previous: store.load(key), budget: try budget(config))
    }

    /// The session of `key`, starting from its stored profile, else the one `remote` shares
    /// (``ProfileExchange``: what a worker read running that action), if any.
    func session(_ key: String?, store: ProfileStore, config: ConfigFile, sharedBy remote: RemoteConnection?) async throws(CASError) -> ProfileSession? {
        guard let local = try session(key, store: store, config: config) else { return nil }
        guard local.previous == nil, let key, let remote else { return local }
        do {
            guard let shared = try await ProfileExchange(connection: remote).fetch(key) else { return local }
            Terminal.note("using the access profile the remote shares for this build action (\(shared.entries.count) paths)")
            return ProfileSession(previous: shared, budget: local.budget)
        } catch {
            Terminal.note("the access profile of \(key) could not be fetched: \(error)")
            return local
        }
    }

    /// Keeps what `session` read as `key`'s profile (a session that read nothing and had no
    /// profile leaves none).
    static func finish(_ session: ProfileSession?, key: String?, store: ProfileStore) {
        guard let session, let key else { return }
        do { try session.keep(as: key, in: store) } catch {
            Terminal.note("cannot keep the access profile of \(key): \(error)")
        }
    }
}
