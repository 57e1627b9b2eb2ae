import Foundation
import GRPCCore
import LocalCAS
import Synchronization

/// ByteStream uploads in progress, by resource name, so that a client whose stream broke can
/// ask how much arrived (QueryWriteStatus) and resume from there. Each session is a
/// ``BlobWriter``: bytes hashed as they arrive, nothing visible until verified. Sessions idle
/// for an hour are dropped (their temp files with them).
final class UploadSessions: Sendable {
    final class Session: Sendable {
        let digest: Digest
        /// nil once committed or failed.
        let writer: Mutex<BlobWriter?>
        let lastUsed = Mutex(ContinuousClock.now)

        init(digest: Digest, writer: sending BlobWriter) {
            self.digest = digest
            self.writer = Mutex(writer)
        }

        var committed: Int64 { writer.withLock { $0?.bytesWritten ?? 0 } }
    }

    private let sessions = Mutex<[String: Session]>([:])
    private let store: LocalContentStore
    static let idleLimit = Duration.seconds(3600)

    init(store: LocalContentStore) {
        self.store = store
    }

    /// The session for `resource`, created if new.
    func session(_ resource: String, digest: Digest) throws(RPCError) -> Session {
        let now = ContinuousClock.now
        let existing = sessions.withLock { s -> Session? in
            s = s.filter { now - $0.value.lastUsed.withLock { $0 } < Self.idleLimit }
            return s[resource]
        }
        if let existing {
            existing.lastUsed.withLock { $0 = now }
            return existing
        }
        let writer: BlobWriter
        do {
            writer = try store.makeWriter(expecting: digest)
        } catch {
            throw RPCError(cas: error)
        }
        let session = Session(digest: digest, writer: writer)
        return sessions.withLock { s in
            if let raced = s[resource] { return raced }
            s[resource] = session
            return session
        }
    }

    func existing(_ resource: String) -> Session? {
        sessions.withLock { $0[resource] }
    }

    func end(_ resource: String) {
        sessions.withLock { _ = $0.removeValue(forKey: resource) }
    }
}
