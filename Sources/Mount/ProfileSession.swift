import LocalCAS
import Logging
import Synchronization

/// One lazy session's side of its ``AccessProfile``: it records the path of every file read
/// (once per file, in first-read order) and, given the previous session's profile, fetches the
/// blobs those paths have in *this* tree before they are asked for.
///
/// The prefetch races the readers, never holds them up: it goes in the profile's order, in
/// batches that start small (the first reader, likely to want the first path, waits for one
/// small batch, not a full one) and grow, two in flight, through the mount's ``ContentStore``,
/// whose single flight lets a reader join a blob the prefetch has in flight, while a cold read
/// of any other blob is fetched on its own at once (batches of different callers do not queue
/// behind each other). A blob a reader got to first is not fetched again or counted.
///
/// Thread safety: all methods may be called concurrently.
public final class ProfileSession: Sendable {
    /// The profile the session started with (nil: the first of its kind, or recording only).
    public let previous: AccessProfile?
    /// Bytes the prefetch may fetch; nil: as many as the profile's files take in this tree, at
    /// most ``defaultBudgetCap``.
    public let budget: Int64?
    public static let defaultBudgetCap: Int64 = 256 << 20
    /// Blobs the first prefetch batch asks for; each next batch asks for four times as many, up
    /// to ``batchBlobs`` (and ``batchBytes``).
    static let firstBatchBlobs = 16
    static let batchBlobs = 256
    static let batchBytes: Int64 = 4 << 20
    /// Prefetch batches in flight at once.
    static let batchesInFlight = 2

    struct State {
        var readInodes = Set<UInt64>()
        var readDigests = Set<Digest>()
        /// What the prefetch will fetch (until it has fetched it).
        var planned = Set<Digest>()
        var paths: [String] = []
        /// Blobs the prefetch fetched, and whether a reader has read one since.
        var prefetched: [Digest: Bool] = [:]
        var counts = ProfileCounts()
    }
    private let state = Mutex(State())
    private let logger = Logger(label: "lazycas.profile")

    public init(previous: AccessProfile?, budget: Int64? = nil) {
        self.previous = previous
        self.budget = budget
    }

    /// Notes a read of file `inode` (blob `digest`); the first read of each records its path.
    func read(inode: UInt64, digest: Digest, path: () -> String) {
        let first = state.withLock { s -> Bool in
            guard s.readInodes.insert(inode).inserted else { return false }
            s.readDigests.insert(digest)
            if s.prefetched[digest] == false {
                s.prefetched[digest] = true
                s.counts.usedBlobs += 1
                s.counts.usedBytes += digest.sizeBytes
            }
            return true
        }
        guard first else { return }
        let p = path()
        state.withLock { $0.paths.append(p) }
    }

    /// Whether the prefetch is about to fetch `digest`: a cold read of it then fetches it alone,
    /// without read-ahead companions (the profile knows better what comes next).
    func plans(_ digest: Digest) -> Bool {
        state.withLock { $0.planned.contains(digest) }
    }

    /// The paths read so far, in first-read order.
    public var recordedPaths: [String] { state.withLock { $0.paths } }

    /// The profile to keep after this session: the previous one merged with what it read.
    public var updated: AccessProfile { (previous ?? AccessProfile()).merged(with: recordedPaths) }

    /// Keeps ``updated`` as `key`'s profile in `store` (a session that read nothing and had no
    /// profile leaves none).
    public func keep(as key: String, in store: ProfileStore) throws(CASError) {
        let updated = self.updated
        guard !updated.isEmpty || previous != nil else { return }
        try store.save(updated, as: key)
    }

    /// What the prefetch did and how much of it was read.
    public var counts: ProfileCounts { state.withLock { $0.counts } }

    /// Fetches the blobs the previous profile's paths have in `fs`'s tree that are not local,
    /// in the profile's order, within the budget. Paths no longer in the tree are skipped (and
    /// counted in one log line). Returns when done or cancelled; failures are logged, never
    /// thrown (a reader that needs the blob fetches it itself).
    public func prefetch(_ fs: LazyFileSystem) async {
        guard let previous, !previous.isEmpty else { return }
        let (wanted, stale, total) = resolve(previous.paths, in: fs)
        if stale > 0 {
            logger.info("access profile: \(stale) of \(previous.entries.count) paths are not files of this tree; skipped")
        }
        let limit = budget ?? min(total, Self.defaultBudgetCap)
        var planned: [Digest] = []
        var bytes: Int64 = 0
        for digest in fs.store.missing(wanted) where bytes + digest.sizeBytes <= limit {
            planned.append(digest)
            bytes += digest.sizeBytes
        }
        state.withLock { s in
            s.counts.stale = stale
            s.planned = Set(planned)
        }
        defer { state.withLock { $0.planned = [] } }
        let batches = Self.batches(planned)
        await withTaskGroup(of: Void.self) { group in
            for (index, batch) in batches.enumerated() {
                if index >= Self.batchesInFlight { await group.next() }
                guard !Task.isCancelled else { break }
                group.addTask { await self.fetch(batch, into: fs) }
            }
        }
    }

    /// `planned` cut into batches of growing size (``firstBatchBlobs``, ×4, up to
    /// ``batchBlobs`` or ``batchBytes``), in order.
    static func batches(_ planned: [Digest]) -> [[Digest]] {
        var batches: [[Digest]] = []
        var start = 0, limit = firstBatchBlobs
        while start < planned.count {
            var end = start, size: Int64 = 0
            while end < planned.count, end - start < limit, end == start || size + planned[end].sizeBytes <= batchBytes {
                size += planned[end].sizeBytes
                end += 1
            }
            batches.append(Array(planned[start..<end]))
            start = end
            limit = min(limit * 4, batchBlobs)
        }
        return batches
    }

    /// Fetches what of `batch` is still missing and unread, counted as prefetched.
    private func fetch(_ batch: [Digest], into fs: LazyFileSystem) async {
        let missing = fs.store.missing(batch)
        let mine = state.withLock { s -> [Digest] in
            let mine = missing.filter { !s.readDigests.contains($0) && s.prefetched[$0] == nil }
            for digest in mine {
                s.prefetched[digest] = false
                s.counts.prefetchedBlobs += 1
                s.counts.prefetchedBytes += digest.sizeBytes
            }
            return mine
        }
        guard !mine.isEmpty else { return }
        do {
            try await fs.content.fetchAll(mine)
        } catch {
            logger.warning("access profile: prefetch of \(mine.count) blobs failed: \(error)")
        }
    }

    /// The blob digests of `paths` in `fs`'s tree, deduplicated, in order; how many paths are
    /// not files there; and the bytes of those that are.
    private func resolve(_ paths: [String], in fs: LazyFileSystem) -> (digests: [Digest], stale: Int, bytes: Int64) {
        var digests: [Digest] = []
        var seen = Set<Digest>()
        var stale = 0
        var bytes: Int64 = 0
        for path in paths {
            var node = Node.directory(fs.root)
            for name in path.split(separator: "/") {
                guard case .directory(let directory) = node, let child = try? fs.lookup(String(name), in: directory) else {
                    node = .symlink(target: "")
                    break
                }
                node = child
            }
            guard case .file(let digest, _) = node else {
                stale += 1
                continue
            }
            bytes += digest.sizeBytes
            if seen.insert(digest).inserted { digests.append(digest) }
        }
        return (digests, stale, bytes)
    }
}

/// What a session's prefetch did: blobs (bytes) fetched ahead, how many of them were then read,
/// and profile paths no longer in the tree.
public struct ProfileCounts: Sendable, Equatable, Codable {
    public var prefetchedBlobs = 0
    public var prefetchedBytes: Int64 = 0
    public var usedBlobs = 0
    public var usedBytes: Int64 = 0
    public var stale = 0

    public init() {}

    public var unusedBlobs: Int { prefetchedBlobs - usedBlobs }
    /// Bytes fetched ahead that nobody read.
    public var wastedBytes: Int64 { prefetchedBytes - usedBytes }

    /// `profile: prefetched 300 blobs (1.2 MiB), 290 used, 10 unused (40 KiB wasted)`.
    public var summary: String {
        "profile: prefetched \(prefetchedBlobs) blobs (\(formatBytes(prefetchedBytes))), \(usedBlobs) used, \(unusedBlobs) unused (\(formatBytes(wastedBytes)) wasted)"
    }
}
