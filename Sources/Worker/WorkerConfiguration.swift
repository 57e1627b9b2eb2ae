import Foundation
import Mount

/// How a `lazycas worker` presents itself to the scheduler and runs what it is given.
public struct WorkerConfiguration: Sendable {
    /// How an action's input root becomes the sandbox's `/`.
    public enum Staging: String, Sendable, CaseIterable {
        /// The input root mounted with lazycas's FUSE mount under a writable overlay: file blobs
        /// are fetched only when the action reads them.
        case lazy
        /// Every file fetched first, then hard-linked (or copied) from the local CAS into a
        /// plain directory: the baseline, and the fallback where overlayfs is unavailable.
        case copy
    }

    /// Unique among the scheduler's bots; the same id after a restart lets the scheduler
    /// re-queue what the previous session held at once.
    public var botId: String
    /// The scheduler's instance name (`parent` of the bot session).
    public var instance: String
    /// Leases run at once.
    public var capacity: Int
    /// Advertised as the primary device's properties, which the scheduler matches against
    /// actions' platforms.
    public var platform: [(name: String, value: String)]
    /// Holds the worker's partial CAS (`cas/`) and each action's scratch space (`actions/`).
    public var workDirectory: String
    public var staging: Staging = .lazy
    /// With lazy staging, how eagerly cold reads bring likely next files along (fewer round
    /// trips, more bytes). Cautious by default: an action that reads one file fetches that file.
    public var readAhead: ReadAheadPolicy = .cautious
    /// Record which files each action shape reads, prefetch them for the next action of that
    /// shape, and share the profiles through the CAS server (``ProfileExchange``).
    public var profiles = true
    /// Bytes one action's profile prefetch may fetch; nil: ``ProfileSession``'s default.
    public var prefetchBudget: Int64?
    /// The local CAS is kept under this many bytes, least recently used blobs evicted first;
    /// nil: no limit.
    public var cacheLimit: Int64?
    /// How long UpdateBotSession may wait for work (the server long-polls for most of it).
    public var pollTimeout: Duration = .seconds(30)
    /// On SIGTERM, how long running actions may go on before they are abandoned (and handed
    /// back to the scheduler to run elsewhere).
    public var drainTimeout: Duration = .seconds(30)
    /// For actions that set no timeout.
    public var defaultActionTimeout: Duration = .seconds(3600)
    /// Where the worker's counters (JSON) are rewritten after every change; nil: nowhere.
    public var statsFile: String?

    public init(botId: String, instance: String, capacity: Int, platform: [(name: String, value: String)], workDirectory: String) {
        self.botId = botId
        self.instance = instance
        self.capacity = capacity
        self.platform = platform
        self.workDirectory = workDirectory
    }

    public var casDirectory: String { workDirectory + "/cas" }
    public var actionsDirectory: String { workDirectory + "/actions" }
}
