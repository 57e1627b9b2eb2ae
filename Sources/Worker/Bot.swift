import Foundation
import LocalCAS
import Logging
import Mount
import RemoteCAS
import REAPI
import Sandbox
import Synchronization
import SwiftProtobuf

/// A Remote Workers API bot: one bot session with the scheduler, kept alive by a loop of
/// UpdateBotSession long polls, and up to `capacity` leases running at once.
///
/// The loop sends the session as the scheduler last returned it (name and version kept), with
/// every running lease ACTIVE and every finished one COMPLETED with its `ActionResult` packed
/// into `result`. A lease that finishes while a poll is waiting cuts that poll short, so its
/// result goes out at once. A lease the scheduler drops or marks CANCELLED is killed. When the
/// scheduler is unreachable the loop keeps the session and retries with backoff; when it no
/// longer knows the session (it restarted and reaped it, or says the session is invalid), the
/// loop registers a new one, and the leases of the old one are abandoned (the scheduler
/// re-queues them).
///
/// ``stop()`` (SIGTERM) stops taking leases: running ones get ``WorkerConfiguration/drainTimeout``
/// to finish, the rest are killed and handed back (UNAVAILABLE, which the scheduler retries
/// elsewhere), a last update with status BOT_TERMINATING reports everything, and ``run()`` returns.
/// (v1test2 has no call that deletes a session; the scheduler expires it.)
public final class Bot: Sendable {
    typealias Session = Google_Devtools_Remoteworkers_V1test2_BotSession
    typealias Lease = Google_Devtools_Remoteworkers_V1test2_Lease

    public let configuration: WorkerConfiguration
    public let stats: WorkerStats
    private let bots: BotsClient
    private let runner: LeaseRunner
    private let wakeup = Wakeup()
    private let logger = Logger(label: "lazycas.worker")

    private struct Running {
        var task: Task<Void, Never>
        /// The scheduler took the lease back: its outcome is not reported.
        var dropped = false
    }
    private struct State {
        var running: [String: Running] = [:]
        /// Completed leases not yet acknowledged by the scheduler.
        var finished: [String: Lease] = [:]
        var stopRequested = false
        /// Stop without waiting for running leases.
        var hurry = false
    }
    private let state = Mutex(State())

    /// - Parameters:
    ///   - bots: the scheduler's Bots service.
    ///   - cas: the CAS the scheduler's actions live in (usually the same server).
    public init(configuration: WorkerConfiguration, bots: RemoteConnection, cas: RemoteConnection) throws {
        self.configuration = configuration
        stats = WorkerStats(botId: configuration.botId, file: configuration.statsFile)
        self.bots = BotsClient(connection: bots)
        let store = try LocalContentStore(root: configuration.casDirectory)
        let quota = configuration.cacheLimit.map { StoreQuota(store: store, maxBytes: $0) }
        // A previous run's leftovers: a killed worker leaves its mounts behind.
        if StaleMounts.detach(under: configuration.actionsDirectory) > 0 {
            Logger(label: "lazycas.worker").notice("detached the mounts a previous run left in \(configuration.actionsDirectory)")
        }
        try? FileManager.default.removeItem(atPath: configuration.actionsDirectory)
        runner = try LeaseRunner(configuration: configuration, store: store, quota: quota, cas: CASClient(connection: cas), stats: stats)
    }

    /// Asks the loop to stop (safe from a signal handler's queue); `immediately` hands running
    /// leases back at once instead of letting them finish.
    public func stop(immediately: Bool = false) {
        state.withLock { s in
            s.stopRequested = true
            if immediately { s.hurry = true }
        }
        wakeup.notify()
    }

    /// Runs the bot until ``stop()`` has been asked for and every lease is reported.
    public func run() async {
        var session: Session?
        var backoff = Duration.milliseconds(200)
        var drainDeadline: ContinuousClock.Instant?
        var terminatingSent = false
        loop: while true {
            let (stopping, hurry, idle) = state.withLock { ($0.stopRequested, $0.hurry, $0.running.isEmpty && $0.finished.isEmpty) }
            if stopping {
                if drainDeadline == nil {
                    drainDeadline = .now + configuration.drainTimeout
                    logger.notice("stopping: no new leases; \(state.withLock { $0.running.count }) running")
                }
                if hurry, let deadline = drainDeadline, deadline > .now { drainDeadline = .now }
                if let drainDeadline, ContinuousClock.now >= drainDeadline { abandonRunning() }
                if idle && (terminatingSent || session == nil) { break loop }
                if let drainDeadline, ContinuousClock.now >= drainDeadline + .seconds(15) {
                    logger.warning("stopping without reporting to \(bots.endpoint): it has not answered since the drain ended")
                    break loop
                }
            }
            guard let current = session else {
                if stopping {
                    // No session to report to: wait for the dropped leases to wind down.
                    await wakeup.wait(for: .milliseconds(200))
                    continue
                }
                do {
                    let created = try await bots.create(newSession(), parent: configuration.instance, timeout: configuration.pollTimeout)
                    session = created
                    stats.update { $0.sessionsCreated += 1 }
                    logger.notice("bot session \(created.name) on \(bots.endpoint)")
                    backoff = .milliseconds(200)
                    _ = apply(created, reported: [])  // the leases a fresh session came with
                } catch {
                    logger.warning("cannot register with \(bots.endpoint): \(error); retrying")
                    await wakeup.wait(for: backoff)
                    backoff = min(backoff * 2, .seconds(5))
                }
                continue
            }
            let (request, reported) = outgoing(current, terminating: stopping)
            let sent = ContinuousClock.now
            switch await pollOrWake(request, timeout: stopping ? .seconds(10) : configuration.pollTimeout) {
            case .woken:
                continue
            case .answer(let answer):
                session = answer
                backoff = .milliseconds(200)
                if stopping && reported.count == request.leases.count && idle { terminatingSent = true }
                let fresh = apply(answer, reported: reported)
                if fresh > 0 || !reported.isEmpty || terminatingSent { continue }
                // While draining, BuildGrid answers at once (a terminating bot gets no work):
                // report again when a lease finishes, or in a second.
                if stopping {
                    await wakeup.wait(for: .seconds(1))
                    continue
                }
                // At capacity the scheduler answers at once (it has nothing to wait for): wait
                // for a lease to finish, or until the session needs a keepalive. A scheduler that
                // does not long-poll at all gets a poll a second.
                if state.withLock({ $0.running.count }) >= configuration.capacity {
                    await wakeup.wait(for: keepalivePause(answer))
                } else if ContinuousClock.now - sent < .seconds(1) {
                    await wakeup.wait(for: .seconds(1))
                }
            case .failure(let error) where BotsClient.isTransient(error):
                logger.warning("UpdateBotSession on \(bots.endpoint) failed: \(error); retrying")
                await wakeup.wait(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            case .failure(let error):
                logger.warning("the scheduler dropped bot session \(current.name): \(error); registering again")
                session = nil
                abandonAll()
            }
        }
        logger.notice("stopped")
    }

    private enum PollResult: Sendable {
        case answer(Session)
        case failure(any Error)
        case woken
    }

    /// One UpdateBotSession, cut short if a lease finishes or a stop is asked for meanwhile.
    private func pollOrWake(_ request: Session, timeout: Duration) async -> PollResult {
        await withTaskGroup(of: PollResult?.self) { group in
            group.addTask { [bots] in
                do { return .answer(try await bots.update(request, timeout: timeout)) } catch { return .failure(error) }
            }
            group.addTask { [wakeup] in await wakeup.wait() ? .woken : nil }
            var first: PollResult?
            while first == nil, let next = await group.next() { first = next }
            group.cancelAll()
            return first ?? .woken
        }
    }

    /// How long to wait before the next keepalive: a third of the time the session has left.
    private func keepalivePause(_ session: Session) -> Duration {
        guard session.hasExpireTime else { return .seconds(5) }
        let left = session.expireTime.date.timeIntervalSinceNow
        return .milliseconds(Int64(max(0.5, min(30, left / 3)) * 1000))
    }

    private func newSession() -> Session {
        var session = Session()
        session.botID = configuration.botId
        session.status = .ok
        var device = Google_Devtools_Remoteworkers_V1test2_Device()
        device.handle = configuration.botId
        device.properties = configuration.platform.map { p in
            var property = Google_Devtools_Remoteworkers_V1test2_Device.Property()
            property.key = p.name
            property.value = p.value
            return property
        }
        session.worker.devices = [device]
        var capacity = Google_Devtools_Remoteworkers_V1test2_Worker.Config()
        capacity.key = "capacity"
        capacity.value = String(configuration.capacity)
        session.worker.configs = [capacity]
        return session
    }

    /// The session to send: `current` with our leases' states. Returns the ids of the completed
    /// leases it reports.
    private func outgoing(_ current: Session, terminating: Bool) -> (Session, Set<String>) {
        var session = current
        session.status = terminating ? .botTerminating : .ok
        let (running, finished) = state.withLock { s in
            (s.running.filter { !$0.value.dropped }.keys.sorted(), s.finished.values.sorted { $0.id < $1.id })
        }
        session.leases = running.map { id in
            var lease = Lease()
            lease.id = id
            lease.state = .active
            return lease
        } + finished
        return (session, Set(finished.map(\.id)))
    }

    /// Applies the scheduler's answer: starts new leases, kills the ones it took back, forgets
    /// the completions it acknowledged. Returns how many leases were started.
    private func apply(_ answer: Session, reported: Set<String>) -> Int {
        var started = 0
        let listed = Set(answer.leases.map(\.id))
        for lease in answer.leases {
            switch lease.state {
            case .pending, .active:
                if startIfNew(lease) { started += 1 }
            case .cancelled:
                drop(lease.id)
            default:
                break
            }
        }
        let taken = state.withLock { s -> [String] in
            for id in reported where !listed.contains(id) || answer.leases.first(where: { $0.id == id })?.state == .completed {
                s.finished[id] = nil
            }
            return s.running.keys.filter { !listed.contains($0) && !(s.running[$0]?.dropped ?? true) }
        }
        for id in taken { drop(id) }
        return started
    }

    /// Runs `lease` unless it is already running or done. While stopping, hands it back at once.
    private func startIfNew(_ lease: Lease) -> Bool {
        let runner = self.runner
        let decision = state.withLock { s -> Bool? in
            guard s.running[lease.id] == nil, s.finished[lease.id] == nil else { return nil }
            if s.stopRequested {
                s.finished[lease.id] = Self.completed(lease.id, LeaseRunner.Outcome(
                    status: LeaseRunner.status(for: CancellationError(), cancelled: true), result: nil))
                return false
            }
            let payload = lease.payload
            let id = lease.id
            let task = Task { [weak self] in
                let outcome = await runner.run(lease: id, payload: payload)
                self?.finish(id, outcome)
            }
            s.running[lease.id] = Running(task: task)
            return true
        }
        guard let decision else { return false }
        if decision {
            stats.update { $0.leasesTaken += 1 }
            logger.info("lease \(lease.id) started")
        } else {
            wakeup.notify()
        }
        return decision
    }

    private func finish(_ id: String, _ outcome: LeaseRunner.Outcome) {
        let dropped = state.withLock { s -> Bool in
            let dropped = s.running.removeValue(forKey: id)?.dropped ?? true
            if !dropped { s.finished[id] = Self.completed(id, outcome) }
            return dropped
        }
        stats.update { s in
            if dropped { s.leasesCancelled += 1 } else if outcome.status.rpcCode == .unavailable { s.leasesAbandoned += 1 } else { s.leasesCompleted += 1 }
            s.rpcs = runnerCalls()
        }
        wakeup.notify()
    }

    private func runnerCalls() -> [String: Int] {
        var calls = bots.connection.counters.snapshot.calls
        if runner.cas.connection !== bots.connection {
            calls.merge(runner.cas.connection.counters.snapshot.calls, uniquingKeysWith: +)
        }
        return calls
    }

    /// The scheduler took `id` back (cancelled, or given to another bot): kill it, report nothing.
    private func drop(_ id: String) {
        let task = state.withLock { s -> Task<Void, Never>? in
            guard var running = s.running[id], !running.dropped else { return nil }
            running.dropped = true
            s.running[id] = running
            return running.task
        }
        if let task {
            logger.info("lease \(id) cancelled by the scheduler")
            task.cancel()
        }
    }

    /// Drain time is over: kill what still runs; each is reported UNAVAILABLE (retried elsewhere).
    private func abandonRunning() {
        for task in state.withLock({ $0.running.values.map(\.task) }) { task.cancel() }
    }

    /// The session is gone, and with it the scheduler's claim on our leases.
    private func abandonAll() {
        let ids = state.withLock { s -> [String] in
            s.finished.removeAll()
            return Array(s.running.keys)
        }
        for id in ids { drop(id) }
    }

    static func completed(_ id: String, _ outcome: LeaseRunner.Outcome) -> Lease {
        var lease = Lease()
        lease.id = id
        lease.state = .completed
        lease.status = outcome.status
        if let result = outcome.result, let packed = try? Google_Protobuf_Any(message: result) {
            lease.result = packed
        }
        return lease
    }
}
