import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import LocalCAS
import Logging
import Synchronization

/// `lazycas serve`: the REAPI v2 services (Capabilities, CAS, ByteStream, ActionCache,
/// Execution, Remote Asset) over one ``ServerStorage``, listening on any number of TCP (plain or
/// TLS) and Unix socket addresses, each guarded by ``ServerSecurity``.
public final class EmbeddedServer: Sendable {
    /// Where to listen.
    public enum Address: Sendable, Hashable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        /// TCP with TLS (``ServerSecurity/tls``).
        case tls(host: String, port: Int)
        case unix(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): "grpc://" + Self.hostPort(host, port)
            case .tls(let host, let port): "grpcs://" + Self.hostPort(host, port)
            case .unix(let path): "unix:\(path)"
            }
        }

        private static func hostPort(_ host: String, _ port: Int) -> String {
            host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    public let storage: ServerStorage
    public let stats: ServerStats
    /// The addresses actually bound (a TCP port 0 replaced by the one the system chose).
    public let addresses: [Address]
    private let servers: [GRPCServer<HTTP2ServerTransport.Posix>]
    private let serving: [Task<Void, any Error>]
    private let logger = Logger(label: "lazycas.serve")

    /// Binds every address and starts serving.
    /// - Throws: if an address cannot be bound (in use, no permission), naming it; if a TLS
    ///   address has no ``ServerSecurity/tls``.
    public init(storage: ServerStorage, listen: [Address], limits: ServerLimits = ServerLimits(),
                execution: ExecutionConfiguration? = nil, security: ServerSecurity = .open) async throws {
        for case .tls(let host, let port) in listen where security.tls == nil {
            throw CASError(.invalidArgument, "grpcs://\(host):\(port) needs a certificate and key (--tls-cert, --tls-key)")
        }
        self.storage = storage
        let stats = ServerStats()
        self.stats = stats
        let uploads = UploadSessions(store: storage.cas)
        let executor = try execution.map { try ActionExecutor(storage: storage, configuration: $0) }
        var services: [any RegistrableRPCService] = [
            CapabilitiesService(limits: limits, executionEnabled: executor != nil),
            CASService(storage: storage, limits: limits, stats: stats),
            ByteStreamService(storage: storage, limits: limits, stats: stats, uploads: uploads),
            ActionCacheService(storage: storage),
            AssetFetchService(names: AssetNames(storage: storage)),
            AssetPushService(names: AssetNames(storage: storage)),
        ]
        if let executor { services.append(ExecutionService(executor: executor)) }
        var servers: [GRPCServer<HTTP2ServerTransport.Posix>] = []
        var serving: [Task<Void, any Error>] = []
        var bound: [Address] = []
        for address in listen {
            var transportSecurity = HTTP2ServerTransport.Posix.TransportSecurity.plaintext
            if case .tls = address, let tls = security.tls { transportSecurity = tls.transportSecurity }
            let transport = HTTP2ServerTransport.Posix(
                address: address.socketAddress, transportSecurity: transportSecurity,
                config: .defaults {
                    $0.rpc.maxRequestPayloadSize = limits.maxMessageBytes
                    // Uploads stream without waiting on flow-control updates every 64 KiB.
                    $0.http2.maxFrameSize = 1 << 20
                    $0.http2.targetWindowSize = 16 << 20
                })
            let verified: Bool
            if case .tls = address { verified = security.tls?.clientCA != nil } else { verified = false }
            let server = GRPCServer(transport: transport, services: services,
                                    interceptors: [StatsInterceptor(stats: stats),
                                                   AccessControl(tokens: security.tokens, clientsVerified: verified)])
            servers.append(server)
            serving.append(Task { try await server.serve() })
            do {
                let actual = try await transport.listeningAddress
                let secure: Bool
                if case .tls = address { secure = true } else { secure = false }
                if let ip = actual.ipv4.map({ ($0.host, $0.port) }) ?? actual.ipv6.map({ ($0.host, $0.port) }) {
                    bound.append(secure ? .tls(host: ip.0, port: ip.1) : .tcp(host: ip.0, port: ip.1))
                } else {
                    bound.append(address)
                }
            } catch {
                for s in servers { s.beginGracefulShutdown() }
                throw CASError(.io, "cannot listen on \(address)", cause: error)
            }
        }
        self.servers = servers
        self.serving = serving
        addresses = bound
    }

    /// Stops accepting calls, lets running ones finish, and returns when every listener closed.
    public func stop() async {
        for server in servers { server.beginGracefulShutdown() }
        for task in serving { _ = try? await task.value }
    }

    /// Returns when every listener has stopped (after ``stop()``, or if one failed).
    public func wait() async throws {
        for task in serving { try await task.value }
    }
}

extension EmbeddedServer.Address {
    var socketAddress: GRPCNIOTransportCore.SocketAddress {
        switch self {
        case .tcp(let host, let port), .tls(let host, let port):
            host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
        case .unix(let path): .unixDomainSocket(path: path)
        }
    }
}
