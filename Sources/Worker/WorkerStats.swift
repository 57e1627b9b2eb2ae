import Foundation
import Mount
import Glibc
import LocalCAS
import Synchronization

/// What one action cost, as the worker logs it and as `--stats-file` lists it.
public struct ActionRecord: Codable, Sendable, Equatable {
    public var lease: String
    /// HASH/SIZE of the Action.
    public var action: String
    /// `lazy` or `copy`.
    public var staging: String
    public var exitCode: Int32
    /// The lease's status code (0 OK; the action may still have exited non-zero).
    public var status: Int32
    /// Distinct file blobs in the input root, and their bytes.
    public var inputFiles: Int
    public var inputBytes: Int64
    /// Directory nodes fetched for this action (the rest were local from earlier actions).
    public var directoriesFetched: Int
    /// File blobs fetched for this action, and their bytes.
    public var filesFetched: Int
    public var bytesFetched: Int64
    /// Blobs uploaded (after one FindMissingBlobs), and their bytes.
    public var blobsUploaded: Int
    public var bytesUploaded: Int64
    public var seconds: Double
    /// Where the action's access profile came from: `local`, `remote`, or nil (none yet, or
    /// `--no-profile`); what its prefetch did.
    public var profileSource: String?
    public var profile: ProfileCounts?

    /// A record of nothing yet, for `lease` run with `staging`.
    public init(lease: String, staging: String) {
        self.lease = lease
        action = "?"
        self.staging = staging
        exitCode = 0
        status = 0
        inputFiles = 0
        inputBytes = 0
        directoriesFetched = 0
        filesFetched = 0
        bytesFetched = 0
        blobsUploaded = 0
        bytesUploaded = 0
        seconds = 0
    }
}

/// The worker's counters: sessions, leases, and the last actions.
public struct WorkerStatsSnapshot: Codable, Sendable, Equatable {
    public var botId = ""
    public var pid: Int32 = 0
    public var sessionsCreated = 0
    /// UpdateBotSession calls the scheduler answered (a worker that hears nothing stays put).
    public var updatesAnswered = 0
    public var leasesTaken = 0
    public var leasesCompleted = 0
    public var leasesCancelled = 0
    public var leasesAbandoned = 0
    /// The most recent actions, oldest first (at most ``WorkerStats/keptRecords``).
    public var actions: [ActionRecord] = []
    /// Calls made, per method, on every connection of the worker.
    public var rpcs: [String: Int] = [:]
}

/// The live counters, rewritten to the stats file (if any) after every change.
public final class WorkerStats: Sendable {
    public static let keptRecords = 1000
    private let state: Mutex<WorkerStatsSnapshot>
    private let file: String?

    public init(botId: String, file: String?) {
        var initial = WorkerStatsSnapshot()
        initial.botId = botId
        initial.pid = getpid()
        state = Mutex(initial)
        self.file = file
    }

    public var snapshot: WorkerStatsSnapshot { state.withLock { $0 } }

    func update(_ change: (inout WorkerStatsSnapshot) -> Void) {
        let copy = state.withLock { s -> WorkerStatsSnapshot in
            change(&s)
            if s.actions.count > Self.keptRecords { s.actions.removeFirst(s.actions.count - Self.keptRecords) }
            return s
        }
        write(copy)
    }

    private func write(_ snapshot: WorkerStatsSnapshot) {
        guard let file else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(snapshot) else { return }
        try? AtomicFile.write(data, to: file)
    }
}
