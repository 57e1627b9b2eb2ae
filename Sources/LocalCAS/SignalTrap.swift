import Dispatch
import Glibc

/// Signals taken away from their default action for as long as the trap is set: the process
/// ignores them, and each one that arrives is reported to `handler` on a dispatch queue (never
/// in signal context, so the handler may lock, log and start work). ``release()`` puts back
/// the dispositions found when the trap was set.
///
/// The one place lazycas handles signals: a mount unmounts on SIGINT/SIGTERM/SIGHUP, a server
/// and a worker stop, a shell session ignores Ctrl-C (its command gets it) and passes SIGTERM
/// on, ``ProcessRunner/runAttached(_:)`` forwards them to its child.
///
/// Owned by the code that set it (not `Sendable`: Dispatch's sources are not).
public final class SignalTrap {
    private let sources: [any DispatchSourceSignal]
    /// What each signal's disposition was before.
    private let previous: [(Int32, sighandler_t?)]

    /// Sets the trap for `signals`; `handler` (if any) hears of each arrival.
    public init(_ signals: [Int32], handler: (@Sendable (Int32) -> Void)? = nil) {
        previous = signals.map { ($0, signal($0, SIG_IGN)) }
        sources = handler.map { handler in
            signals.map { sig in
                let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                source.setEventHandler { handler(sig) }
                source.resume()
                return source
            }
        } ?? []
    }

    /// Stops reporting and restores the previous dispositions. Call once.
    public func release() {
        sources.forEach { $0.cancel() }
        for (sig, old) in previous { signal(sig, old) }
    }
}
