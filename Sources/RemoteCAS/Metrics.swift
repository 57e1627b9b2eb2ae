import GRPCCore
import Synchronization

/// Counts of what crossed the network: calls per RPC method (every attempt, whether or not it
/// reached the server, and of those the ones that failed) and the blobs and bytes sent and
/// received (from a ``MetricsContentStore``). A
/// connection has one; a mount, a shell or one worker action can have its own too, counting
/// only what it fetched. Safe from any thread.
public final class Metrics: Sendable {
    /// A point-in-time copy.
    public struct Snapshot: Sendable, Equatable {
        /// Calls per method name (`FindMissingBlobs`, `Read`, …), every attempt counted: one
        /// that found no connection too.
        public var calls: [String: Int] = [:]
        /// Attempts per method name that failed: no connection, a deadline, an error status
        /// other than NOT_FOUND (which answers: a cache miss, a blob the server lacks).
        public var failures: [String: Int] = [:]
        /// Blob bytes uploaded and downloaded.
        public var bytesSent: Int64 = 0
        public var bytesReceived: Int64 = 0
        /// Blobs uploaded and downloaded.
        public var blobsSent: Int = 0
        public var blobsReceived: Int = 0

        public var totalCalls: Int { calls.values.reduce(0, +) }
        public var totalFailures: Int { failures.values.reduce(0, +) }

        /// `3 (BatchReadBlobs 2, GetCapabilities 1)`, and `; 1 failed (GetCapabilities 1)` if any did.
        public var callSummary: String {
            func list(_ counts: [String: Int]) -> String {
                counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            }
            return "\(totalCalls)" + (calls.isEmpty ? "" : " (\(list(calls)))")
                + (failures.isEmpty ? "" : "; \(totalFailures) failed (\(list(failures)))")
        }

        /// `RPCs: 3 (BatchReadBlobs 2, GetCapabilities 1); sent 0 blobs, 0 B; received 5 blobs, 1234 B`.
        public var summary: String {
            "RPCs: \(callSummary); sent \(blobsSent) blobs, \(bytesSent) B; received \(blobsReceived) blobs, \(bytesReceived) B"
        }
        public subscript(method: String) -> Int { calls[method] ?? 0 }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    /// Runs one attempt of the call `method`, counting it, and counting it failed if it throws
    /// anything but NOT_FOUND.
    public func counting<T>(_ method: String, _ body: () async throws -> T) async throws -> T {
        state.withLock { $0.calls[method, default: 0] += 1 }
        do {
            return try await body()
        } catch {
            if (error as? RPCError)?.code != .notFound {
                state.withLock { $0.failures[method, default: 0] += 1 }
            }
            throw error
        }
    }

    func recordSent(blobs: Int, bytes: Int64) {
        state.withLock { $0.blobsSent += blobs; $0.bytesSent += bytes }
    }

    func recordReceived(blobs: Int, bytes: Int64) {
        state.withLock { $0.blobsReceived += blobs; $0.bytesReceived += bytes }
    }
}
