import Synchronization

/// Accumulates ``TransferProgress`` from concurrent transfers and reports each update.
final class ProgressTracker: Sendable {
    private let state: Mutex<TransferProgress>
    private let report: (@Sendable (TransferProgress) -> Void)?

    init(_ total: TransferProgress, report: (@Sendable (TransferProgress) -> Void)?) {
        state = Mutex(total)
        self.report = report
    }

    func advance(blobs: Int, bytes: Int64) {
        let now = state.withLock { p in
            p.blobsDone += blobs
            p.bytesDone += bytes
            return p
        }
        report?(now)
    }
}
