import GRPCCore
import GRPCNIOTransportHTTP2Posix
import LocalCAS
import Logging
import FoundationEssentials

/// One HTTP/2 connection (pool) to a REAPI server, shared by every client stub built on it.
///
/// Every call gets a deadline from grpc-swift's service config, so each stub inherits it.
/// Call ``close()`` when done (or use ``with(_:metrics:_:)``).
public final class RemoteConnection: Sendable {
    public let configuration: RemoteConfiguration
    /// Every RPC attempt made on this connection, and the blobs and bytes its ``store`` moved.
    public let metrics: Metrics
    /// This server's CAS and ByteStream services, one attempt of one RPC per operation.
    public let cas: GRPCContentStore
    /// The same as lazycas uses it: calls packed and run concurrently (``BatchingContentStore``),
    /// each retried (``RetryingContentStore``), every attempt counted into ``metrics``
    /// (``MetricsContentStore``).
    public let store: any ContentStore
    /// The underlying gRPC client, for building stubs of other REAPI services on this connection.
    public let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let runner: Task<Void, Never>

    /// Connects lazily: the first call opens the connection.
    /// - Throws: `.invalidArgument` for unreadable TLS files or an unusable endpoint.
    public init(_ configuration: RemoteConfiguration, metrics: Metrics = Metrics(),
                logger: Logger = Logger(label: "lazycas.remote")) throws(CASError) {
        self.configuration = configuration
        self.metrics = metrics
        let transport: HTTP2ClientTransport.Posix
        do {
            transport = try HTTP2ClientTransport.Posix(
                target: Self.target(configuration.endpoint),
                transportSecurity: try Self.security(configuration),
                config: .defaults { config in
                    // Large frames and a large window: blobs stream without waiting on
                    // flow-control updates every 64 KiB.
                    config.http2.maxFrameSize = 1 << 20
                    config.http2.targetWindowSize = 16 << 20
                    config.connection.maxIdleTime = .seconds(300)
                    config.backoff.initial = .milliseconds(100)
                    config.backoff.max = .seconds(2)
                },
                serviceConfig: Self.serviceConfig(configuration)
            )
        } catch let error as CASError {
            throw error
        } catch {
            throw CASError(.invalidArgument, "cannot set up a connection to \(configuration.endpoint)", cause: error)
        }
        let client = GRPCClient(
            transport: transport,
            interceptors: [CallInterceptor(accessToken: configuration.accessToken)])
        self.client = client
        let cas = GRPCContentStore(client: client, configuration: configuration, metrics: metrics)
        self.cas = cas
        store = BatchingContentStore(
            base: RetryingContentStore(base: MetricsContentStore(base: cas, metrics: metrics),
                                       policy: configuration.retryPolicy(), transferPolicy: configuration.retryPolicy(transfer: true)),
            concurrency: configuration.maxConcurrentTransfers,
            batchLimit: { () async throws(CASError) in try await cas.batchLimit() })
        runner = Task {
            do {
                try await client.runConnections()
            } catch {
                logger.debug("connection to \(configuration.endpoint) ended: \(error)")
            }
        }
    }

    /// Opens a connection, runs `body`, and closes it whatever happens.
    public static func with<Result: Sendable>(
        _ configuration: RemoteConfiguration, metrics: Metrics = Metrics(),
        _ body: (RemoteConnection) async throws -> Result
    ) async throws -> Result {
        let connection = try RemoteConnection(configuration, metrics: metrics)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Lets in-flight calls finish, then closes the connection. Calls still stuck after a
    /// grace period (a peer that never answers) are cut off.
    public func close() async {
        client.beginGracefulShutdown()
        let runner = self.runner
        let watchdog = Task {
            try await Task.sleep(for: .seconds(2))
            runner.cancel()
        }
        await runner.value
        watchdog.cancel()
    }

    private static func target(_ endpoint: RemoteEndpoint) -> any ResolvableTarget {
        switch endpoint.address {
        case .tcp(let host, let port):
            if host.split(separator: ".").count == 4, host.allSatisfy({ $0.isNumber || $0 == "." }) {
                return .ipv4(address: host, port: port)
            }
            if host.contains(":") { return .ipv6(address: host, port: port) }
            return .dns(host: host, port: port)
        case .unix(let path):
            return .unixDomainSocket(path: path)
        }
    }

    private static func security(_ c: RemoteConfiguration) throws(CASError) -> HTTP2ClientTransport.Posix.TransportSecurity {
        guard c.endpoint.usesTLS else {
            if c.serverCertPath != nil || c.clientCertPath != nil {
                throw CASError(.invalidArgument, "--server-cert/--client-cert need a grpcs:// remote, got \(c.endpoint)")
            }
            return .plaintext
        }
        for path in [c.serverCertPath, c.clientCertPath, c.clientKeyPath].compactMap({ $0 }) {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw CASError(.invalidArgument, "cannot read TLS file \(path)")
            }
        }
        if (c.clientCertPath == nil) != (c.clientKeyPath == nil) {
            throw CASError(.invalidArgument, "--client-cert and --client-key go together")
        }
        let configure: (inout HTTP2ClientTransport.Posix.TransportSecurity.TLS) -> Void = { tls in
            if let ca = c.serverCertPath {
                tls.trustRoots = .certificates([.file(path: ca, format: .pem)])
            }
        }
        if let cert = c.clientCertPath, let key = c.clientKeyPath {
            return .mTLS(certificateChain: [.file(path: cert, format: .pem)],
                         privateKey: .file(path: key, format: .pem), configure: configure)
        }
        return .tls(configure: configure)
    }

    /// Per-call deadlines and fail-fast behaviour; retries are ``RetryPolicy``'s.
    private static func serviceConfig(_ c: RemoteConfiguration) -> ServiceConfig {
        let unary = MethodConfig(names: [MethodConfig.Name(service: "")], waitForReady: false, timeout: c.callTimeout)
        // Streams move whole large blobs; give them a longer overall deadline.
        let streams = MethodConfig(names: [MethodConfig.Name(service: "google.bytestream.ByteStream")],
                                   waitForReady: false, timeout: c.callTimeout * 10)
        return ServiceConfig(methodConfig: [unary, streams])
    }
}
