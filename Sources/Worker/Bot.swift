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

    /// Where one lease is.
    enum LeaseState {
        /// Its action is running.
        case running(Task<Void, Never>)
        /// The scheduler took it back (cancelled it, or gave it to another bot): its action is
        /// being killed, and its outcome will not be reported.
        case dropped(Task<Void, Never>)
        /// Finished: reported as COMPLETED on every update until the scheduler acknowledges it.
        case completed(Lease)
    }

    private struct State {
        var leases: [String: LeaseState] = [:]
        var stopRequested = false
        /// Stop without waiting for running leases.
        var hurry = false

        /// Leases whose actions are still running (dropped ones included, until they end).
        var busy: Int {
            leases.values.filter { if case .completed = $0 { false } else { true } }.count
        }
    }
    private let state = Mutex(State())

    /// Where the bot session is; ``run()`` moves from one to the next.
    enum Phase {
        /// No session: registering (again).
        case unregistered
        /// A session the scheduler knows, polled for work.
        case serving(Session)
        /// Stopping: no new leases; running ones have until `deadline`, then are handed back;
        /// the session (if there still is one) is told BOT_TERMINATING, `terminated` once the
        /// scheduler has heard it with nothing left to report.
        case draining(Session?, deadline: ContinuousClock.Instant, terminated: Bool)
        /// Done: ``run()`` returns.
        case stopped
    }

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
        runner = try LeaseRunner(configuration: configuration, store: store, quota: quota, connection: cas, stats: stats)
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
        var phase = Phase.unregistered
        var backoff = RetryPolicy.Backoff(Self.retry)
        while true {
            phase = enterDrainIfStopping(phase)
            switch phase {
            case .stopped:
                logger.notice("stopped")
                return
            case .unregistered:
                phase = await register(&backoff)
            case .serving(let session):
                phase = await serve(session, &backoff)
            case .draining(let session, let deadline, let terminated):
                phase = await drain(session, deadline: deadline, terminated: terminated, &backoff)
            }
        }
    }

    /// Pauses between attempts to reach the scheduler: without jitter, so the bots of one
    /// machine come back together when it does (the scheduler spreads the work).
    static let retry: RetryPolicy = {
        var policy = RetryPolicy(maxAttempts: .max, deadline: .seconds(365 * 24 * 3600))
        policy.initialBackoff = .milliseconds(200)
        policy.maxBackoff = .seconds(5)
        policy.jitter = 1...1
        return policy
    }()

    /// A stop asked for: from any phase but the last, the drain begins.
    private func enterDrainIfStopping(_ phase: Phase) -> Phase {
        guard state.withLock({ $0.stopRequested }) else { return phase }
        switch phase {
        case .unregistered:
            return startDrain(nil)
        case .serving(let session):
            return startDrain(session)
        case .draining, .stopped:
            return phase
        }
    }

    private func startDrain(_ session: Session?) -> Phase {
        logger.notice("stopping: no new leases; \(state.withLock { $0.busy }) running")
        return .draining(session, deadline: .now + configuration.drainTimeout, terminated: false)
    }

    /// Registers a bot session; the leases it comes with start at once.
    private func register(_ backoff: inout RetryPolicy.Backoff) async -> Phase {
        do {
            let created = try await bots.create(newSession(), parent: configuration.instance, timeout: configuration.pollTimeout)
            stats.update { $0.sessionsCreated += 1 }
            logger.notice("bot session \(created.name) on \(bots.endpoint)")
            backoff.reset(Self.retry)
            _ = apply(created, reported: [])
            return .serving(created)
        } catch {
            logger.warning("cannot register with \(bots.endpoint): \(error); retrying")
            await wakeup.wait(for: backoff.next())
            return .unregistered
        }
    }

    /// One UpdateBotSession: reports the leases, takes new ones.
    private func serve(_ session: Session, _ backoff: inout RetryPolicy.Backoff) async -> Phase {
        let (request, reported) = outgoing(session, terminating: false)
        let sent = ContinuousClock.now
        switch await pollOrWake(request, timeout: configuration.pollTimeout) {
        case .woken:
            return .serving(session)
        case .answer(let answer):
            backoff.reset(Self.retry)
            stats.update { $0.updatesAnswered += 1 }
            let fresh = apply(answer, reported: reported)
            if fresh > 0 || !reported.isEmpty { return .serving(answer) }
            // At capacity the scheduler answers at once (it has nothing to wait for): wait for a
            // lease to finish, or until the session needs a keepalive. A scheduler that does not
            // long-poll at all gets a poll a second.
            if state.withLock({ $0.busy }) >= configuration.capacity {
                await wakeup.wait(for: keepalivePause(answer))
            } else if ContinuousClock.now - sent < .seconds(1) {
                await wakeup.wait(for: .seconds(1))
            }
            return .serving(answer)
        case .failure(let error):
            return await failed(session, error, &backoff) ?? .serving(session)
        }
    }

    /// While stopping: hands leases back once the deadline has passed, reports until the
    /// scheduler has heard everything with BOT_TERMINATING, then stops.
    private func drain(_ session: Session?, deadline: ContinuousClock.Instant, terminated: Bool,
                       _ backoff: inout RetryPolicy.Backoff) async -> Phase {
        var deadline = deadline
        let (hurry, idle) = state.withLock { ($0.hurry, $0.leases.isEmpty) }
        if hurry, deadline > .now { deadline = .now }
        if ContinuousClock.now >= deadline { abandonRunning() }
        if idle && (terminated || session == nil) { return .stopped }
        if ContinuousClock.now >= deadline + .seconds(15) {
            logger.warning("stopping without reporting to \(bots.endpoint): it has not answered since the drain ended")
            return .stopped
        }
        guard let session else {
            // No session to report to: wait for the dropped leases to wind down.
            await wakeup.wait(for: .milliseconds(200))
            return .draining(nil, deadline: deadline, terminated: terminated)
        }
        let (request, reported) = outgoing(session, terminating: true)
        switch await pollOrWake(request, timeout: .seconds(10)) {
        case .woken:
            return .draining(session, deadline: deadline, terminated: terminated)
        case .answer(let answer):
            backoff.reset(Self.retry)
            stats.update { $0.updatesAnswered += 1 }
            let heardAll = reported.count == request.leases.count && idle
            let fresh = apply(answer, reported: reported)
            // BuildGrid answers a terminating bot at once (it gets no work): report again when a
            // lease finishes, or in a second.
            if fresh == 0 && reported.isEmpty && !heardAll { await wakeup.wait(for: .seconds(1)) }
            return .draining(answer, deadline: deadline, terminated: terminated || heardAll)
        case .failure(let error):
            let next = await failed(session, error, &backoff)
            if case .unregistered? = next { return .draining(nil, deadline: deadline, terminated: terminated) }
            return .draining(session, deadline: deadline, terminated: terminated)
        }
    }

    /// A failed update: the scheduler is unreachable (retry the same session after a pause:
    /// returns nil), or no longer knows the session, which takes our leases with it (register
    /// again: returns `.unregistered`).
    private func failed(_ session: Session, _ error: any Error, _ backoff: inout RetryPolicy.Backoff) async -> Phase? {
        if BotsClient.isTransient(error) {
            logger.warning("UpdateBotSession on \(bots.endpoint) failed: \(error); retrying")
            await wakeup.wait(for: backoff.next())
            return nil
        }
        logger.warning("the scheduler dropped bot session \(session.name): \(error); registering again")
        abandonAll()
        return .unregistered
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
        let (running, completed) = state.withLock { s -> ([String], [Lease]) in
            var running: [String] = [], completed: [Lease] = []
            for (id, lease) in s.leases {
                switch lease {
                case .running: running.append(id)
                case .completed(let report): completed.append(report)
                case .dropped: break
                }
            }
            return (running.sorted(), completed.sorted { $0.id < $1.id })
        }
        session.leases = running.map { id in
            var lease = Lease()
            lease.id = id
            lease.state = .active
            return lease
        } + completed
        return (session, Set(completed.map(\.id)))
    }

    /// Applies the scheduler's answer: starts new leases, kills the ones it took back, forgets
    /// the completions it acknowledged. Returns how many leases were started.
    private func apply(_ answer: Session, reported: Set<String>) -> Int {
        var started = 0
        let listed = Dictionary(answer.leases.map { ($0.id, $0.state) }, uniquingKeysWith: { a, _ in a })
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
            for id in reported where listed[id] == nil || listed[id] == .completed {
                s.leases[id] = nil
            }
            return s.leases.compactMap { id, lease in
                if case .running = lease, listed[id] == nil { id } else { nil }
            }
        }
        for id in taken { drop(id) }
        return started
    }

    /// Runs `lease` unless it is already known. While stopping, hands it back at once.
    private func startIfNew(_ lease: Lease) -> Bool {
        let runner = self.runner
        let started = state.withLock { s -> Bool? in
            guard s.leases[lease.id] == nil else { return nil }
            if s.stopRequested {
                s.leases[lease.id] = .completed(Self.completed(lease.id, LeaseRunner.Outcome(
                    status: LeaseRunner.status(for: CancellationError(), cancelled: true), result: nil)))
                return false
            }
            let (payload, id) = (lease.payload, lease.id)
            s.leases[id] = .running(Task { [weak self] in
                let outcome = await runner.run(lease: id, payload: payload)
                self?.finish(id, outcome)
            })
            return true
        }
        guard let started else { return false }
        if started {
            stats.update { $0.leasesTaken += 1 }
            logger.info("lease \(lease.id) started")
        } else {
            wakeup.notify()
        }
        return started
    }

    /// A lease's action ended: report it, unless the scheduler took the lease back.
    private func finish(_ id: String, _ outcome: LeaseRunner.Outcome) {
        let dropped = state.withLock { s -> Bool in
            guard case .running? = s.leases[id] else {
                s.leases[id] = nil
                return true
            }
            s.leases[id] = .completed(Self.completed(id, outcome))
            return false
        }
        stats.update { s in
            if dropped { s.leasesCancelled += 1 } else if outcome.status.rpcCode == .unavailable { s.leasesAbandoned += 1 } else { s.leasesCompleted += 1 }
            s.rpcs = runnerCalls()
        }
        wakeup.notify()
    }

    private func runnerCalls() -> [String: Int] {
        var calls = bots.connection.metrics.snapshot.calls
        if runner.connection !== bots.connection {
            calls.merge(runner.connection.metrics.snapshot.calls, uniquingKeysWith: +)
        }
        return calls
    }

    /// The scheduler took `id` back (cancelled, or given to another bot): kill it, report nothing.
    private func drop(_ id: String) {
        let task = state.withLock { s -> Task<Void, Never>? in
            guard case .running(let task)? = s.leases[id] else { return nil }
            s.leases[id] = .dropped(task)
            return task
        }
        if let task {
            logger.info("lease \(id) cancelled by the scheduler")
            task.cancel()
        }
    }

    /// Drain time is over: kill what still runs; each is reported UNAVAILABLE (retried elsewhere).
    private func abandonRunning() {
        let tasks = state.withLock { s in
            s.leases.values.compactMap { lease -> Task<Void, Never>? in if case .running(let t) = lease { t } else { nil } }
        }
        for task in tasks { task.cancel() }
    }

    /// The session is gone, and with it the scheduler's claim on our leases.
    private func abandonAll() {
        let ids = state.withLock { s -> [String] in
            s.leases = s.leases.filter { if case .completed = $0.value { false } else { true } }
            return Array(s.leases.keys)
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
