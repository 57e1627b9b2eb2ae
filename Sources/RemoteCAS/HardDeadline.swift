import GRPCCore
import Synchronization

/// Runs `operation` but returns DEADLINE_EXCEEDED after `limit` even if the operation does not
/// respond to cancellation.
///
/// grpc-swift enforces call deadlines by cancelling the call's task and then waiting for it; a
/// call queued on a connection whose peer accepted TCP but never speaks HTTP/2 does not finish
/// on cancellation, so the caller would wait forever. Here the caller is answered on time and
/// the stuck call is cancelled and left to end on its own.
func withHardDeadline<T: Sendable>(
    _ limit: Duration, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let once = ResumeOnce<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            once.install(continuation)
            let work = Task {
                do { once.resume(.success(try await operation())) } catch { once.resume(.failure(error)) }
            }
            let timer = Task {
                try await Task.sleep(for: limit)
                once.resume(.failure(RPCError(code: .deadlineExceeded, message: "no answer within \(limit)")))
                work.cancel()
            }
            once.onFinish(work, timer: timer)
        }
    } onCancel: {
        once.resume(.failure(CancellationError()))
    }
}

/// A continuation resumed by whichever of the work, the timer or cancellation comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, pending: Result<T, any Error>?,
                               work: Task<Void, Never>?, timer: Task<Void, any Error>?)>((nil, nil, nil, nil))

    func install(_ continuation: CheckedContinuation<T, any Error>) {
        let early = state.withLock { s -> Result<T, any Error>? in
            if let pending = s.pending { s.pending = nil; return pending }
            s.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    func onFinish(_ work: Task<Void, Never>, timer: Task<Void, any Error>) {
        let finished = state.withLock { s -> Bool in
            s.work = work
            s.timer = timer
            return s.continuation == nil
        }
        if finished { timer.cancel() }
    }

    func resume(_ result: Result<T, any Error>) {
        let (continuation, work, timer) = state.withLock { s -> (CheckedContinuation<T, any Error>?, Task<Void, Never>?, Task<Void, any Error>?) in
            guard let c = s.continuation else {
                // Cancelled before the continuation existed: remember the first outcome.
                if s.pending == nil { s.pending = result }
                return (nil, nil, nil)
            }
            s.continuation = nil
            return (c, s.work, s.timer)
        }
        guard let continuation else { return }
        continuation.resume(with: result)
        // The timer must not outlive the call (thousands of sleeping timers add up).
        timer?.cancel()
        if case .failure = result { work?.cancel() }
    }
}
