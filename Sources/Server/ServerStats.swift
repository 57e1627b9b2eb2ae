import Foundation
import GRPCCore
import Synchronization

/// Requests and payload bytes per RPC method since the server started, for benchmarks and
/// operators (`lazycas serve --stats-file`, or a log line on SIGUSR1).
public final class ServerStats: Sendable {
    /// One method's counters.
    public struct Method: Codable, Sendable, Equatable {
        public var requests = 0
        public var errors = 0
        /// Blob bytes received (uploads) and sent (downloads).
        public var bytesIn: Int64 = 0
        public var bytesOut: Int64 = 0
    }
    private let methods = Mutex<[String: Method]>([:])

    public init() {}

    /// Every method's counters, by method name (`FindMissingBlobs`, `Read`, `Execute`, …).
    public var snapshot: [String: Method] { methods.withLock { $0 } }

    func record(_ method: String, _ change: (inout Method) -> Void) {
        methods.withLock { change(&$0[method, default: Method()]) }
    }

    /// The snapshot as JSON, methods sorted by name.
    public func json() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return (try? encoder.encode(snapshot)) ?? Data("{}".utf8)
    }

    /// One line: `Method requests/errors in/out …`, for logs.
    public func summary() -> String {
        snapshot.sorted { $0.key < $1.key }
            .map { "\($0.key) \($0.value.requests) req \($0.value.errors) err \($0.value.bytesIn) B in \($0.value.bytesOut) B out" }
            .joined(separator: "; ")
    }
}

/// Counts every call and its outcome per method.
struct StatsInterceptor: ServerInterceptor {
    let stats: ServerStats

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor.method
        stats.record(method) { $0.requests += 1 }
        do {
            // An interceptor further in hands a failure on as a response, not a throw.
            let response = try await next(request, context)
            if case .failure = response.accepted { stats.record(method) { $0.errors += 1 } }
            return response
        } catch {
            stats.record(method) { $0.errors += 1 }
            throw error
        }
    }
}
