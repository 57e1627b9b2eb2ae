import LocalCAS
import Synchronization

/// Decides which cold small siblings ride along when a small file is fetched.
///
/// Reading one file of a directory often means reading its neighbours (a compiler walking
/// headers, `grep -r`, a copy). Fetching them in the same BatchReadBlobs costs no extra round
/// trip. The policy is adaptive per directory: it keeps sending siblings while at least a
/// quarter of those already sent were opened afterwards, and stops in directories where they
/// were not.
final class SiblingPrefetch: Sendable {
    /// Files larger than this are never batched with siblings.
    static let smallFile: Int64 = 256 * 1024
    /// At most this many sibling bytes ride along with one fetch.
    static let batchBytes: Int64 = 1 << 20

    struct DirectoryState {
        var sent = 0
        var used = 0
    }
    private let state = Mutex<[UInt64: DirectoryState]>([:])

    /// Cold small siblings of `digest` to fetch alongside it.
    func siblings(of digest: Digest, in listing: DirectoryListing, parent: UInt64,
                  store: LocalContentStore) -> [Digest] {
        guard digest.sizeBytes <= Self.smallFile else { return [] }
        let allowed = state.withLock { s -> Bool in
            let d = s[parent] ?? DirectoryState()
            return d.sent < 32 || d.used * 4 >= d.sent
        }
        guard allowed else { return [] }
        var picked: [Digest] = []
        var bytes: Int64 = 0
        for child in listing.children {
            guard case .file(let d, _) = child.node, d != digest, d.sizeBytes <= Self.smallFile,
                  bytes + d.sizeBytes <= Self.batchBytes, !store.contains(d) else { continue }
            picked.append(d)
            bytes += d.sizeBytes
        }
        state.withLock { $0[parent, default: DirectoryState()].sent += picked.count }
        return picked
    }

    /// An open found its blob local: if siblings were sent to this directory, count a use.
    func recordLocalOpen(parent: UInt64) {
        state.withLock { s in
            if var d = s[parent], d.sent > d.used {
                d.used += 1
                s[parent] = d
            }
        }
    }
}
