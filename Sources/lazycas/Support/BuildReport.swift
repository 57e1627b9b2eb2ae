import Driver
import Foundation
import LocalCAS
import RemoteCAS

/// Build output in BuildStream's shape, on stderr: one line per element event,
/// `[00:00:01][74743c93][ build:hello.bst ] SUCCESS …`, then a summary with counts, time, and
/// the RPCs and bytes that crossed the network.
struct BuildReport: Sendable {
    let width: Int
    let verbose: Bool

    init(graph: ElementGraph, verbose: Bool) {
        width = graph.order.map(\.count).max() ?? 0
        self.verbose = verbose
    }

    var show: @Sendable (BuildEvent) -> Void {
        { [self] event in
            guard event.kind != .stage || verbose else { return }
            let key = event.key.map { String($0.prefix(8)) } ?? String(repeating: " ", count: 8)
            let name = event.element.padding(toLength: width, withPad: " ", startingAt: 0)
            let kind = event.kind.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)
            let lines = event.message.split(separator: "\n", omittingEmptySubsequences: false)
            var text = "[\(Self.clock(event.elapsed))][\(key)][ build:\(name) ] \(kind) \(lines.first ?? "")"
            for line in lines.dropFirst() { text += "\n    " + line }
            Terminal.note(text)
        }
    }

    func summarize(_ summary: BuildSummary, metrics: Metrics.Snapshot, elapsed: Duration) {
        let total = summary.built.count + summary.cached.count + summary.failed.count + summary.skipped.count
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        var lines = [
            "",
            "Build summary",
            "  Elements:  \(total): \(summary.built.count) built, \(summary.cached.count) cached, \(summary.failed.count) failed, \(summary.skipped.count) skipped",
            "  Time:      " + String(format: "%.2f s", seconds),
            "  RPCs:      \(metrics.callSummary)",
            "  Sent:      \(metrics.blobsSent) blobs, \(formatBytes(metrics.bytesSent))",
            "  Received:  \(metrics.blobsReceived) blobs, \(formatBytes(metrics.bytesReceived))",
        ]
        for failure in summary.failed { lines.append("  Failed:    \(failure.element): \(failure.message)") }
        Terminal.note(lines.joined(separator: "\n"))
    }

    /// `HH:MM:SS` since the build started.
    static func clock(_ elapsed: Duration) -> String {
        let s = Int(elapsed.components.seconds)
        return String(format: "%02d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
    }
}
