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

/// A progress line for a long transfer, redrawn in place ten times a second while stderr is a
/// terminal (and silent otherwise): blobs and bytes done of those expected, and the rate. It
/// follows the counters of the connection doing the transfer (``Metrics``), so the transfer
/// itself needs no hooks.
final class ProgressLine: Sendable {
    /// Which counters of the connection measure the progress.
    enum Direction: Sendable { case sent, received }

    private let label: String
    private let metrics: Metrics
    private let direction: Direction
    private let started = ContinuousClock.now
    /// The counters when the line was made; the blobs and bytes expected; whether anything was drawn.
    private let state: Mutex<(base: (blobs: Int, bytes: Int64), total: (blobs: Int, bytes: Int64), drawn: Bool)>
    private let drawing = Mutex<Task<Void, Never>?>(nil)

    init(label: String, following metrics: Metrics, direction: Direction) {
        self.label = label
        self.metrics = metrics
        self.direction = direction
        let now = metrics.snapshot
        state = Mutex(((direction == .sent ? (now.blobsSent, now.bytesSent) : (now.blobsReceived, now.bytesReceived)), (0, 0), false))
        guard Terminal.isInteractive else { return }
        // The task holds the line weakly: it ends with the line, or at finish().
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                self?.draw()
            }
        }
        drawing.withLock { $0 = task }
    }

    /// The transfer will move these blobs.
    func expect(_ digests: Set<Digest>) {
        state.withLock { $0.total = (digests.count, digests.reduce(0) { $0 + $1.sizeBytes }) }
    }

    private func draw() {
        let now = metrics.snapshot
        let (blobs, bytes) = direction == .sent ? (now.blobsSent, now.bytesSent) : (now.blobsReceived, now.bytesReceived)
        let (base, total) = state.withLock { s in
            s.drawn = true
            return (s.base, s.total)
        }
        let done = (blobs: min(blobs - base.blobs, total.blobs), bytes: min(bytes - base.bytes, total.bytes))
        let seconds = max(0.001, (ContinuousClock.now - started) / .seconds(1))
        let rate = formatBytes(Int64(Double(done.bytes) / seconds)) + "/s"
        let line = "\r\(label) \(done.blobs)/\(total.blobs) blobs, \(formatBytes(done.bytes)) of \(formatBytes(total.bytes)), \(rate)\u{1B}[K"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Stops redrawing and ends the line if anything was drawn.
    func finish() {
        drawing.withLock { $0?.cancel(); $0 = nil }
        if state.withLock({ $0.drawn }) {
            draw()
            FileHandle.standardError.write(Data("\n".utf8))
        }
    }
}
