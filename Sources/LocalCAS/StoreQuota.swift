import FoundationEssentials
import Glibc
import Synchronization

/// Keeps a ``LocalContentStore`` under a size limit by evicting the least recently used blobs
/// (a pack of small blobs goes whole, by its own last use, and only when none of its blobs is
/// protected).
///
/// "Used" is a blob's atime: stores set it when a blob is written and ``touch(_:)`` when it is
/// read or found. When the bytes stored since the last count pass the limit, one eviction pass
/// walks the store, and removes blobs oldest first until the store is at ``lowWater`` of the
/// limit, skipping **protected** blobs: those pinned by work in progress (``pin(_:)`` — the
/// inputs of a running action) and those named by a fresh result (``protect(_:for:)``), which a
/// client is about to fetch.
///
/// Thread safety: all methods may be called concurrently; one eviction pass runs at a time.
public final class StoreQuota: Sendable {
    public let store: LocalContentStore
    public let maxBytes: Int64
    /// Eviction stops once the store is at this fraction of the limit, so passes are rare.
    public static let lowWater = 0.9

    struct State {
        /// Bytes stored, as last counted plus what was added since (an upper bound).
        var usage: Int64 = 0
        var pins: [Digest: Int] = [:]
        var freshUntil: [Digest: ContinuousClock.Instant] = [:]
        var evicting = false
        /// `usage` when the running pass started, to keep what is added during it.
        var usageAtPassStart: Int64 = 0
    }
    private let state = Mutex(State())

    /// Counts what the store holds now.
    public init(store: LocalContentStore, maxBytes: Int64) {
        self.store = store
        self.maxBytes = maxBytes
        var total: Int64 = 0
        store.forEachBlob { digest, _ in total += digest.sizeBytes }
        store.forEachPack { _, bytes, _, _ in total += bytes }
        state.withLock { $0.usage = total }
    }

    /// Bytes the store holds (an upper bound between passes).
    public var usage: Int64 { state.withLock { $0.usage } }

    /// A blob was used: it becomes the most recently used.
    public func touch(_ digests: some Sequence<Digest>) {
        for d in digests { store.touch(d) }
    }

    /// `bytes` were stored; evicts if that passes the limit.
    public func added(_ bytes: Int64) {
        let over = state.withLock { s -> Bool in
            s.usage += bytes
            guard s.usage > maxBytes, !s.evicting else { return false }
            s.evicting = true
            s.usageAtPassStart = s.usage
            return true
        }
        if over { evict() }
    }

    /// Protects `digests` until a matching ``unpin(_:)``.
    public func pin(_ digests: some Sequence<Digest>) {
        state.withLock { s in for d in digests { s.pins[d, default: 0] += 1 } }
    }

    public func unpin(_ digests: some Sequence<Digest>) {
        state.withLock { s in
            for d in digests {
                if let n = s.pins[d], n > 1 { s.pins[d] = n - 1 } else { s.pins[d] = nil }
            }
        }
    }

    /// Protects `digests` for `duration` (the blobs of a result just produced or cached).
    public func protect(_ digests: some Sequence<Digest>, for duration: Duration) {
        let until = ContinuousClock.now + duration
        state.withLock { s in for d in digests { s.freshUntil[d] = max(until, s.freshUntil[d] ?? until) } }
    }

    /// One pass: remove unprotected blobs and packs, least recently used first, down to the low
    /// water mark.
    private func evict() {
        /// A blob file or a pack: what goes at once.
        struct Unit {
            let used: timespec
            let bytes: Int64
            let digests: [Digest]
            let pack: String?
        }
        var units: [Unit] = []
        var total: Int64 = 0
        store.forEachBlob { digest, st in
            units.append(Unit(used: st.st_atim, bytes: digest.sizeBytes, digests: [digest], pack: nil))
            total += digest.sizeBytes
        }
        store.forEachPack { id, bytes, used, digests in
            units.append(Unit(used: used, bytes: bytes, digests: digests, pack: id))
            total += bytes
        }
        units.sort { ($0.used.tv_sec, $0.used.tv_nsec) < ($1.used.tv_sec, $1.used.tv_nsec) }
        let now = ContinuousClock.now
        let (pins, fresh) = state.withLock { s -> ([Digest: Int], [Digest: ContinuousClock.Instant]) in
            s.freshUntil = s.freshUntil.filter { $0.value > now }
            return (s.pins, s.freshUntil)
        }
        let target = Int64(Double(maxBytes) * Self.lowWater)
        for unit in units where total > target {
            guard unit.digests.allSatisfy({ pins[$0] == nil && fresh[$0] == nil && $0 != .empty }) else { continue }
            if let pack = unit.pack {
                store.removePack(pack)
            } else {
                store.remove(unit.digests[0])
            }
            total -= unit.bytes
        }
        state.withLock { s in
            s.usage = total + (s.usage - s.usageAtPassStart)
            s.evicting = false
        }
    }
}
