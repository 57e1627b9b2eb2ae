import Synchronization

/// Wakes the bot's session loop early: a lease finished (its result should be reported now,
/// not after the current long poll), or a stop was asked for. A notification that arrives
/// while nobody waits is kept for the next wait. One waiter at a time (the session loop).
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Bool, Never>?
    }
    private let state = Mutex(State())

    func notify() {
        let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
            guard let w = s.waiter else { s.pending = true; return nil }
            s.waiter = nil
            return w
        }
        waiter?.resume(returning: true)
    }

    /// Returns true on a notification; false after `timeout` or on cancellation.
    @discardableResult
    func wait(for timeout: Duration? = nil) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.notification() }
            if let timeout {
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    return false
                }
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    private func notification() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let now: Bool? = state.withLock { s in
                    if s.pending {
                        s.pending = false
                        return true
                    }
                    if Task.isCancelled { return false }
                    s.waiter = c
                    return nil
                }
                if let now { c.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Bool, Never>? in
                defer { s.waiter = nil }
                return s.waiter
            }
            waiter?.resume(returning: false)
        }
    }
}
