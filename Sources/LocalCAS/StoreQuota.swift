import Foundation
import Glibc
import Synchronization

/// Keeps a ``LocalContentStore`` under a size limit by evicting the least recently used blobs.
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

    /// One pass: remove unprotected blobs, least recently used first, down to the low water mark.
    private func evict() {
        var blobs: [(digest: Digest, used: timespec)] = []
        var total: Int64 = 0
        store.forEachBlob { digest, st in
            blobs.append((digest, st.st_atim))
            total += digest.sizeBytes
        }
        blobs.sort { ($0.used.tv_sec, $0.used.tv_nsec) < ($1.used.tv_sec, $1.used.tv_nsec) }
        let now = ContinuousClock.now
        let (pins, fresh) = state.withLock { s -> ([Digest: Int], [Digest: ContinuousClock.Instant]) in
            s.freshUntil = s.freshUntil.filter { $0.value > now }
            return (s.pins, s.freshUntil)
        }
        let target = Int64(Double(maxBytes) * Self.lowWater)
        for blob in blobs where total > target {
            guard pins[blob.digest] == nil, fresh[blob.digest] == nil, blob.digest != .empty else { continue }
            store.remove(blob.digest)
            total -= blob.digest.sizeBytes
        }
        state.withLock { s in
            s.usage = total + (s.usage - s.usageAtPassStart)
            s.evicting = false
        }
    }
}
