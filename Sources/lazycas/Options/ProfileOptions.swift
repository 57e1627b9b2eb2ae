import ArgumentParser
import Driver
import LocalCAS
import Mount

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

    var budget: Int64? { prefetchBudget.flatMap(Serve.bytes) }

    /// The session of `key` (nil: a bare digest, or `--no-profile`), starting from its stored
    /// profile.
    func session(_ key: String?, store: ProfileStore) -> ProfileSession? {
        guard let key, !noProfile else { return nil }
        return ProfileSession(previous: store.load(key), budget: budget)
    }

    /// Keeps what `session` read as `key`'s profile (a session that read nothing and had no
    /// profile leaves none).
    static func finish(_ session: ProfileSession?, key: String?, store: ProfileStore) {
        guard let session, let key else { return }
        let updated = session.updated
        guard !updated.isEmpty || session.previous != nil else { return }
        do { try store.save(updated, as: key) } catch {
            Terminal.note("cannot keep the access profile of \(key): \(error)")
        }
    }
}

/// Whose access profile a mount or shell records and uses: what the tree argument names that
/// outlives one version of the tree.
enum ProfileKey {
    /// `ref:NAME`; `element:PROJECT/NAME.bst`; `bst:PROJECT/ELEMENT` (any cache key); nil for a
    /// bare digest (it names one version only). `variant` (build, buildtree) is appended.
    static func forTree(_ text: String, project: () -> String?, variant: String? = nil) -> String? {
        guard (try? Digest(parsing: text)) == nil else { return nil }
        let base: String
        if CommandContext.isBuildStream(text) {
            let reference = String(text.dropFirst(4))
            if let name = BuildStreamArtifactName(parsing: reference) {
                base = "bst:\(name.project)/\(name.element)"
            } else {
                base = "bst:\(project() ?? "")/\(BuildStreamArtifactName.normalName(of: reference))"
            }
        } else if text.hasSuffix(".bst") {
            base = "element:\(project() ?? "")/\(text)"
        } else {
            base = "ref:\(text)"
        }
        return variant.map { "\(base)#\($0)" } ?? base
    }
}
