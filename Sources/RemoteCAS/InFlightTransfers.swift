import LocalCAS
import Synchronization

/// The blobs on their way into one local store, process-wide: every ``ReadCachingContentStore``
/// over the same store (a mount, a shell, each of a worker's actions) shares this table, so a
/// blob that several of them want at once is transferred once.
///
/// INVARIANT: a digest is in the table exactly while a transfer that will store it is running;
/// whoever registered it finishes it (``finish(_:_:_:)``), successful or not, and only the
/// transfer it registered: a later transfer of the same digest is someone else's.
final class InFlightTransfers: Sendable {
    /// One transfer under way.
    enum Transfer: Sendable {
        /// Part of a batch: wait for it, then read the stored blob.
        case batch(PendingBlob)
        /// A large blob arriving by ranges, readable as it comes.
        case stream(BlobStream)

        /// The object behind the transfer, which tells two transfers of one digest apart.
        var identity: ObjectIdentifier {
            switch self {
            case .batch(let pending): ObjectIdentifier(pending)
            case .stream(let stream): ObjectIdentifier(stream)
            }
        }
    }

    private let transfers = Mutex<[Digest: Transfer]>([:])

    /// One table per local store root, for the life of the process.
    private static let registry = Mutex<[String: InFlightTransfers]>([:])

    /// The table of transfers into `store`.
    static func shared(for store: LocalContentStore) -> InFlightTransfers {
        registry.withLock { r in
            if let table = r[store.root] { return table }
            let table = InFlightTransfers()
            r[store.root] = table
            return table
        }
    }

    /// What is under way for `digest`, if anything.
    func current(_ digest: Digest) -> Transfer? {
        transfers.withLock { $0[digest] }
    }

    /// Whether `digest` has started arriving as a stream; then the ``BlobStream``.
    func stream(_ digest: Digest) -> BlobStream? {
        if case .stream(let stream)? = current(digest) { stream } else { nil }
    }

    /// The transfer under way for `digest`, or, if there is none and `stillMissing()` (checked
    /// under the lock: a transfer may have just stored the blob and left), the one `start`
    /// makes, now registered. Returns nil when the blob needs no transfer.
    func join(_ digest: Digest, stillMissing: () -> Bool,
              start: () throws(CASError) -> Transfer) throws(CASError) -> (transfer: Transfer, started: Bool)? {
        try transfers.withLock { t throws(CASError) -> (transfer: Transfer, started: Bool)? in
            if let running = t[digest] { return (running, false) }
            guard stillMissing() else { return nil }
            let made = try start()
            t[digest] = made
            return (made, true)
        }
    }

    /// Ends `transfer` of `digest`: it leaves the table (if it is still the one there) and its
    /// waiters hear `outcome`.
    func finish(_ digest: Digest, _ transfer: Transfer, _ outcome: Result<Void, CASError>) {
        transfers.withLock { t in
            if t[digest]?.identity == transfer.identity { t[digest] = nil }
        }
        if case .batch(let pending) = transfer { pending.finish(outcome) }
    }
}
