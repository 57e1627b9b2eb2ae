import ArgumentParser
import Foundation
import Glibc
import Synchronization
import LocalCAS
import Mount
import RemoteCAS
import Sandbox
import Worker

/// `lazycas worker`: a Remote Workers API bot for BuildGrid (or any v1test2 scheduler).
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run actions for a scheduler (BuildGrid) with input roots mounted lazily.",
        discussion: """
            Registers a bot session with the scheduler's Bots service (Remote Workers API \
            v1test2) and runs the leases it gets, --capacity at a time. Each action's input \
            root is mounted with lazycas's FUSE mount under a writable overlay (--stage lazy), \
            so only the files the action reads are fetched, and run in the same bubblewrap \
            sandbox as `lazycas serve` (no network, nothing of the host). Only what the action \
            wrote is hashed and uploaded (one FindMissingBlobs, then batches). Directory nodes \
            and fetched blobs stay in WORK-DIR/cas across actions and restarts, kept under \
            --cache-limit. --stage copy fetches every file and hard-links the tree instead. \
            Each action is logged with the bytes of its input root and the bytes it fetched. \
            SIGTERM or Ctrl-C stop taking leases and give running ones --drain-timeout to \
            finish; a second signal hands them back at once. Needs root (FUSE and overlayfs).
            """
    )

    @Option(name: .long, help: ArgumentHelp("The scheduler's Bots service (config: bots-remote).", valueName: "url"))
    var botsRemote: String?

    @Option(name: .long, help: ArgumentHelp("The CAS the actions' blobs are in (default: --bots-remote).", valueName: "url"))
    var casRemote: String?

    @Option(name: .long, help: "Leases run at once (default: the number of CPUs).")
    var capacity: Int?

    @Option(name: .long, parsing: .singleValue, help: ArgumentHelp("A platform property the worker offers, NAME=VALUE (repeatable); it replaces the default of that name (OSFamily=linux, ISA of this machine).", valueName: "name=value"))
    var platform: [String] = []

    @Option(name: .long, help: "Where the worker keeps its CAS and action scratch space (default: CACHE-DIR/worker).")
    var workDir: String?

    @Option(name: .long, help: "How input roots are staged: lazy (FUSE mount + overlay) or copy (fetch everything, hard links).")
    var stage: String = "lazy"

    @Option(name: .long, help: "With --stage lazy, how eagerly a cold read brings likely next files along: cautious (after a second read in a directory; default), eager, or off.")
    var readAhead: ReadAheadPolicy = .cautious

    @Option(name: .long, help: "Keep the worker's CAS under this size (e.g. 20G), least recently used blobs evicted; default: no limit.")
    var cacheLimit: String?

    @Option(name: .long, help: "The bot's id (default: HOSTNAME-HASH of the work directory, stable across restarts).")
    var botId: String?

    @Option(name: .long, help: "On SIGTERM, seconds running actions get to finish before they are handed back (default 30).")
    var drainTimeout: Double = 30

    @Option(name: .long, help: "Rewrite the worker's counters (JSON: sessions, leases, per-action fetch and upload figures) to this file.")
    var statsFile: String?

    @OptionGroup var profile: ProfileOptions
    @OptionGroup var remote: RemoteOptions
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let capacity, capacity < 1 { throw ValidationError("--capacity must be at least 1") }
        if WorkerConfiguration.Staging(rawValue: stage) == nil { throw ValidationError("--stage is lazy or copy, got '\(stage)'") }
        if let cacheLimit, Serve.bytes(cacheLimit) == nil {
            throw ValidationError("--cache-limit '\(cacheLimit)' is not a size: use bytes or a number with K, M, G or T (e.g. 20G)")
        }
        for p in platform where p.split(separator: "=", maxSplits: 1).count != 2 {
            throw ValidationError("--platform takes NAME=VALUE, got '\(p)'")
        }
        if drainTimeout < 0 { throw ValidationError("--drain-timeout must not be negative") }
    }

    func run() async throws {
        let file = try global.loadConfig()
        guard let botsURL = botsRemote ?? file.botsRemote ?? remote.remote ?? file.remote else {
            throw CASError(.invalidArgument, "a worker needs its scheduler: pass --bots-remote URL (or set 'bots-remote:' in the config file)")
        }
        let casURL = casRemote ?? file.casRemote ?? botsURL
        let work = URL(fileURLWithPath: expandingTilde(workDir ?? global.resolvedCacheDir(file) + "/worker")).standardizedFileURL.path
        var configuration = WorkerConfiguration(
            botId: botId ?? Self.defaultBotId(workDirectory: work),
            instance: remote.instance ?? file.instance ?? "",
            capacity: capacity ?? ProcessInfo.processInfo.activeProcessorCount,
            platform: Self.platform(overriding: platform),
            workDirectory: work)
        configuration.staging = WorkerConfiguration.Staging(rawValue: stage)!
        configuration.readAhead = readAhead
        configuration.profiles = profile.enabled(file)
        configuration.prefetchBudget = try profile.budget(file)
        configuration.cacheLimit = cacheLimit.flatMap(Serve.bytes)
        configuration.drainTimeout = .milliseconds(Int64(drainTimeout * 1000))
        configuration.statsFile = statsFile.map { URL(fileURLWithPath: expandingTilde($0)).standardizedFileURL.path }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)

        let metrics = Metrics()
        let botsConnection = try RemoteConnection(try remote.configuration(url: botsURL, file), metrics: metrics)
        let casConnection = casURL == botsURL ? botsConnection : try RemoteConnection(try remote.configuration(url: casURL, file), metrics: metrics)
        let bot: Bot
        do {
            bot = try Bot(configuration: configuration, bots: botsConnection, cas: casConnection)
        } catch {
            await botsConnection.close()
            if casConnection !== botsConnection { await casConnection.close() }
            throw error
        }
        let properties = configuration.platform.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
        Terminal.note("worker \(configuration.botId): \(configuration.capacity) leases at once, \(properties), staging \(configuration.staging.rawValue), scheduler \(botsURL) instance '\(configuration.instance)', work dir \(work)")
        let count = SignalCount()
        let signals = SignalTrap([SIGINT, SIGTERM]) { _ in bot.stop(immediately: count.next() > 1) }
        await bot.run()
        signals.release()
        await botsConnection.close()
        if casConnection !== botsConnection { await casConnection.close() }
        let s = bot.stats.snapshot
        Terminal.note("worker stopped: \(s.leasesCompleted) leases completed, \(s.leasesCancelled) cancelled, \(s.leasesAbandoned) handed back")
    }

    /// The defaults with each `NAME=VALUE` given replacing the default of that name (or added).
    static func platform(overriding given: [String]) -> [(name: String, value: String)] {
        var properties = defaultPlatform
        for p in given {
            let parts = p.split(separator: "=", maxSplits: 1).map(String.init)
            properties.removeAll { $0.name == parts[0] }
            properties.append((parts[0], parts[1]))
        }
        return properties
    }

    /// The host's platform (``PlatformOffer/host``).
    static var defaultPlatform: [(name: String, value: String)] { PlatformOffer.host.properties }

    /// HOSTNAME-HASH: stable for one work directory on one machine, distinct for two workers
    /// sharing a machine.
    static func defaultBotId(workDirectory: String) -> String {
        "\(ProcessInfo.processInfo.hostName)-\(Digest(data: Data(workDirectory.utf8)).hash.prefix(8))"
    }
}

/// Counts signals, from the signal queue.
private final class SignalCount: Sendable {
    private let count = Mutex(0)
    func next() -> Int { count.withLock { $0 += 1; return $0 } }
}
