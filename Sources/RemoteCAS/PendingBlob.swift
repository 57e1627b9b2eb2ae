import LocalCAS
import Synchronization

/// One blob on its way into the local CAS: whoever needs it waits here until it has been
/// stored or has failed. Finished exactly once, by the transfer that carries it.
final class PendingBlob: Sendable {
    private let state = Mutex<(outcome: Result<Void, CASError>?, waiters: [CheckedContinuation<Void, any Error>])>((nil, []))

    /// Returns when the blob is stored; throws why it could not be.
    func wait() async throws(CASError) {
        do {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let done = state.withLock { s -> Result<Void, CASError>? in
                    if s.outcome == nil { s.waiters.append(c) }
                    return s.outcome
                }
                if let done { c.resume(with: done) }
            }
        } catch let error as CASError {
            throw error
        } catch {
            throw CASError(.remote, "\(error)")
        }
    }

    /// Records the outcome and wakes every waiter; later calls are ignored.
    func finish(_ outcome: Result<Void, CASError>) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            guard s.outcome == nil else { return [] }
            s.outcome = outcome
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume(with: outcome) }
    }
}
