import Foundation
import Glibc
import Synchronization

/// SIGINT, SIGTERM and SIGHUP for the length of a shell session: ignored here (the command gets
/// them from the terminal, or forwarded by ``ProcessRunner/runAttached(_:)``), with TERM and
/// HUP remembered so the session stops instead of starting the command.
final class SessionSignals {
    /// Shared with the signal handlers.
    private final class Flag: Sendable { let value = Mutex(false) }
    private let flag = Flag()
    private let sources: [any DispatchSourceSignal]
    private let previous: [(Int32, sighandler_t?)]

    init() {
        previous = [SIGINT, SIGTERM, SIGHUP].map { ($0, signal($0, SIG_IGN)) }
        let flag = self.flag
        sources = [SIGTERM, SIGHUP].map { sig in
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { flag.value.withLock { $0 = true } }
            source.resume()
            return source
        }
    }

    /// Whether SIGTERM or SIGHUP arrived.
    var received: Bool { flag.value.withLock { $0 } }

    func restore() {
        sources.forEach { $0.cancel() }
        for (sig, handler) in previous { signal(sig, handler) }
    }
}
