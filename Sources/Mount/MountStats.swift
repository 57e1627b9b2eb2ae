import FoundationEssentials
import Glibc
import Synchronization

/// What a mount has done: reads answered locally (hits) or after starting a fetch (misses),
/// blobs and bytes fetched, and failures. Written as JSON for `lazycas cas stats`. Reads the
/// kernel serves from its page cache never reach the mount and are not counted.
public struct MountStatsSnapshot: Codable, Sendable, Equatable {
    public var mountpoint: String = ""
    public var root: String = ""
    public var pid: Int32 = 0
    public var reads: Int = 0
    public var hits: Int = 0
    public var misses: Int = 0
    public var blobsFetched: Int = 0
    public var bytesFetched: Int64 = 0
    public var errors: Int = 0
    /// What the access profile's prefetch did (nil: no profile).
    public var profile: ProfileCounts?

    public init() {}
}

/// Thread-safe counters behind ``MountStatsSnapshot``.
public final class MountStats: Sendable {
    private let state: Mutex<MountStatsSnapshot>

    public init(mountpoint: String, root: String) {
        var s = MountStatsSnapshot()
        s.mountpoint = mountpoint
        s.root = root
        s.pid = getpid()
        state = Mutex(s)
    }

    public var snapshot: MountStatsSnapshot { state.withLock { $0 } }

    func update(_ change: (inout MountStatsSnapshot) -> Void) {
        state.withLock { change(&$0) }
    }
}
