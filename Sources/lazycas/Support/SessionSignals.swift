import LocalCAS
import Glibc
import Synchronization

/// SIGINT, SIGTERM and SIGHUP for the length of a shell session: ignored here (the command gets
/// them from the terminal, or forwarded by ``ProcessRunner/runAttached(_:)``), with TERM and
/// HUP remembered so the session stops instead of starting the command.
final class SessionSignals {
    /// Shared with the trap's handler.
    private final class Flag: Sendable { let value = Mutex(false) }
    private let flag = Flag()
    private let trap: SignalTrap

    init() {
        let flag = self.flag
        trap = SignalTrap([SIGINT, SIGTERM, SIGHUP]) { sig in
            if sig != SIGINT { flag.value.withLock { $0 = true } }
        }
    }

    /// Whether SIGTERM or SIGHUP arrived.
    var received: Bool { flag.value.withLock { $0 } }

    func restore() { trap.release() }
}
