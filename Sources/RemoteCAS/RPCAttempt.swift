import GRPCCore
import LocalCAS

/// One attempt of one RPC: counted in ``Metrics`` (under the method's name, `Read` for
/// `ByteStream.Read`), bounded by a hard deadline (``withHardDeadline(_:_:)``), its failure
/// turned into a ``CASError`` that names the call, the server and what it was about, with the
/// gRPC status as its cause (which ``RetryPolicy`` reads).
enum RPCAttempt {
    static func run<T: Sendable>(_ name: String, _ what: String = "", on configuration: RemoteConfiguration,
                                 metrics: Metrics, streaming: Bool = false,
                                 _ body: @escaping @Sendable () async throws -> T) async throws(CASError) -> T {
        let method = String(name.split(separator: ".").last ?? Substring(name))
        do {
            return try await metrics.counting(method) {
                try await withHardDeadline(configuration.callTimeout * (streaming ? 10 : 1) + .milliseconds(500), body)
            }
        } catch {
            throw failure(name, error, what, endpoint: configuration.endpoint)
        }
    }

    /// `NAME on ENDPOINT (WHAT) failed: CODE: "MESSAGE"`, with a code the CLI maps to an exit
    /// status: NOT_FOUND stays not found, INVALID_ARGUMENT stays bad input, the rest is remote.
    static func failure(_ name: String, _ error: any Error, _ what: String = "", endpoint: RemoteEndpoint) -> CASError {
        if let casError = error as? CASError { return casError }
        let place = "\(name) on \(endpoint)\(what.isEmpty ? "" : " (\(what))")"
        if let rpc = error as? RPCError {
            let code: CASError.Code = rpc.code == .notFound ? .notFound
                : rpc.code == .invalidArgument ? .invalidArgument : .remote
            return CASError(code, "\(place) failed", cause: rpc)
        }
        return CASError(.remote, "\(place) failed", cause: error)
    }
}

extension RemoteConnection {
    /// One call to this server (of any service), retried by its ``RetryPolicy``.
    public func call<T: Sendable>(_ name: String, _ what: String = "", streaming: Bool = false,
                                  _ body: @escaping @Sendable () async throws -> T) async throws(CASError) -> T {
        try await configuration.retryPolicy(transfer: streaming).run { () async throws(CASError) -> T in
            try await RPCAttempt.run(name, what, on: configuration, metrics: metrics, streaming: streaming, body)
        }
    }
}
