import Foundation
import LocalCAS
import Glibc
import RemoteCAS
import Synchronization

/// Human-facing output on stderr (stdout is for results other programs read).
enum Terminal {
    static func note(_ text: String) {
        FileHandle.standardError.write(Data("\(text)\n".utf8))
    }

    static let isInteractive = isatty(STDERR_FILENO) != 0
}

/// A progress line for long transfers, redrawn in place at most ten times a second when stderr
/// is a terminal, and silent otherwise.
final class ProgressLine: Sendable {
    private let label: String
    private let lastDraw = Mutex<(at: ContinuousClock.Instant?, drawn: Bool)>((nil, false))
    private let started = ContinuousClock.now

    init(label: String) {
        self.label = label
    }

    var update: @Sendable (TransferProgress) -> Void {
        { [self] p in draw(p) }
    }

    private func draw(_ p: TransferProgress) {
        guard Terminal.isInteractive else { return }
        let now = ContinuousClock.now
        let due = lastDraw.withLock { state in
            if let at = state.at, now - at < .milliseconds(100), p.blobsDone < p.blobsTotal { return false }
            state = (now, true)
            return true
        }
        guard due else { return }
        let seconds = max(0.001, (now - started) / .seconds(1))
        let rate = formatBytes(Int64(Double(p.bytesDone) / seconds)) + "/s"
        let line = "\r\(label) \(p.blobsDone)/\(p.blobsTotal) blobs, \(formatBytes(p.bytesDone)) of \(formatBytes(p.bytesTotal)), \(rate)\u{1B}[K"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Ends the line if anything was drawn.
    func finish() {
        if lastDraw.withLock({ $0.drawn }) { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
