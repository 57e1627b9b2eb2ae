import Synchronization

/// Counts of what crossed the network: calls per RPC method (every attempt, from the connection's
/// interceptor) and the blobs and bytes sent and received (from a ``MetricsContentStore``). A
/// connection has one; a mount, a shell or one worker action can have its own too, counting
/// only what it fetched. Safe from any thread.
public final class Metrics: Sendable {
    /// A point-in-time copy.
    public struct Snapshot: Sendable, Equatable {
        /// Calls per method name (`FindMissingBlobs`, `Read`, …), every attempt counted.
        public var calls: [String: Int] = [:]
        /// Blob bytes uploaded and downloaded.
        public var bytesSent: Int64 = 0
        public var bytesReceived: Int64 = 0
        /// Blobs uploaded and downloaded.
        public var blobsSent: Int = 0
        public var blobsReceived: Int = 0

        public var totalCalls: Int { calls.values.reduce(0, +) }

        /// `RPCs: 3 (BatchReadBlobs 2, GetCapabilities 1); sent 0 blobs, 0 B; received 5 blobs, 1234 B`.
        public var summary: String {
            let perMethod = calls.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            return "RPCs: \(totalCalls) (\(perMethod)); sent \(blobsSent) blobs, \(bytesSent) B; received \(blobsReceived) blobs, \(bytesReceived) B"
        }
        public subscript(method: String) -> Int { calls[method] ?? 0 }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func recordCall(_ method: String) {
        state.withLock { $0.calls[method, default: 0] += 1 }
    }

    func recordSent(blobs: Int, bytes: Int64) {
        state.withLock { $0.blobsSent += blobs; $0.bytesSent += bytes }
    }

    func recordReceived(blobs: Int, bytes: Int64) {
        state.withLock { $0.blobsReceived += blobs; $0.bytesReceived += bytes }
    }
}
