import GRPCCore
import LocalCAS

/// When and how a failed remote call is tried again: the one list of retryable codes, one
/// backoff, and one deadline over all the attempts of a call. ``RetryingContentStore`` applies
/// it to every CAS operation; the ActionCache, Asset, Capabilities and GetTree calls go through
/// ``run(deadline:mayRetry:_:)`` too; ``ExecutionClient`` and the worker's bot session use its
/// classification and backoff for their reattach and re-register loops.
public struct RetryPolicy: Sendable {
    /// Attempts per call, the first included.
    public var maxAttempts: Int
    /// All attempts of one call, and the pauses between them, fit in this.
    public var deadline: Duration
    public var initialBackoff: Duration = .milliseconds(100)
    public var maxBackoff: Duration = .seconds(2)
    /// Each pause is multiplied by a random factor from this range, so that clients failed by
    /// one outage do not all come back in step.
    public var jitter: ClosedRange<Double> = 0.8...1.2

    public init(maxAttempts: Int, deadline: Duration) {
        self.maxAttempts = maxAttempts
        self.deadline = deadline
    }

    /// The codes that say the call did not get through or did not get to an answer — the server
    /// was unreachable, overloaded, restarting, or the stream broke — so nothing is wrong with
    /// the request, nor with what it refers to (a bot session stays valid).
    public static let unreachableCodes: Set<RPCError.Code> = [
        .unavailable, .resourceExhausted, .deadlineExceeded, .aborted, .cancelled,
    ]

    /// The codes after which the same request may well succeed when sent again: the unreachable
    /// ones, and a server failing on its side (INTERNAL, UNKNOWN), as Bazel's
    /// `RemoteRetrier.RETRIABLE_GRPC_ERRORS` has them. Anything else (INVALID_ARGUMENT,
    /// NOT_FOUND, FAILED_PRECONDITION, PERMISSION_DENIED…) would fail the same way again.
    public static let retryableCodes: Set<RPCError.Code> = unreachableCodes.union([.internalError, .unknown])

    /// Whether `error` is worth another attempt: a retryable gRPC status (bare, or as the
    /// cause of a ``CASError``), unless the caller itself was cancelled.
    public static func isRetryable(_ error: any Error) -> Bool {
        guard !Task.isCancelled else { return false }
        return code(of: error).map { retryableCodes.contains($0) } ?? false
    }

    /// Whether `error` says the server was not reached (or did not get to answer), as opposed
    /// to an answer about the request.
    public static func isUnreachable(_ error: any Error) -> Bool {
        code(of: error).map { unreachableCodes.contains($0) } ?? false
    }

    /// The gRPC status code of `error`, bare or as the cause of a ``CASError``.
    static func code(of error: any Error) -> RPCError.Code? {
        ((error as? RPCError) ?? ((error as? CASError)?.cause as? RPCError))?.code
    }

    /// Pauses between attempts: exponential from ``initialBackoff`` to ``maxBackoff``, each
    /// with the policy's ``jitter``.
    public struct Backoff: Sendable {
        private var current: Duration
        private let maximum: Duration
        private let jitter: ClosedRange<Double>

        public init(_ policy: RetryPolicy) {
            current = policy.initialBackoff
            maximum = policy.maxBackoff
            jitter = policy.jitter
        }

        /// The next pause.
        public mutating func next() -> Duration {
            defer { current = min(current * 2, maximum) }
            return current * Double.random(in: jitter)
        }

        /// Starts again from the shortest pause (after progress).
        public mutating func reset(_ policy: RetryPolicy) {
            current = policy.initialBackoff
        }
    }

    /// Runs `attempt` until it succeeds, fails in a way not worth retrying, runs out of attempts,
    /// or the next pause would end past the deadline (`deadline`, else ``deadline``).
    /// `mayRetry` can veto another attempt (a stream that already delivered bytes).
    public func run<T: Sendable>(deadline: Duration? = nil, mayRetry: () -> Bool = { true },
                                 _ attempt: () async throws(CASError) -> T) async throws(CASError) -> T {
        let end = ContinuousClock.now + (deadline ?? self.deadline)
        var backoff = Backoff(self)
        var attempts = 1
        while true {
            do {
                return try await attempt()
            } catch {
                let pause = backoff.next()
                guard Self.isRetryable(error), attempts < maxAttempts, mayRetry(), ContinuousClock.now + pause < end else {
                    throw error
                }
                try? await Task.sleep(for: pause)
                attempts += 1
            }
        }
    }
}

extension RemoteConfiguration {
    /// The retry policy of calls to this server: ``maxAttempts`` attempts within
    /// ``callTimeout`` (a transfer, `transfer: true`: ten times that).
    public func retryPolicy(transfer: Bool = false) -> RetryPolicy {
        RetryPolicy(maxAttempts: maxAttempts, deadline: callTimeout * (transfer ? 10 : 1))
    }
}
