import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import LocalCAS
import Logging
import Synchronization

/// `lazycas serve`: the REAPI v2 services (Capabilities, CAS, ByteStream, ActionCache,
/// Execution, Remote Asset) over one ``ServerStorage``, listening on any number of TCP and
/// Unix socket addresses.
public final class EmbeddedServer: Sendable {
    /// Where to listen.
    public enum Address: Sendable, Hashable, CustomStringConvertible {
        case tcp(host: String, port: Int)
        case unix(path: String)

        public var description: String {
            switch self {
            case .tcp(let host, let port): host.contains(":") ? "grpc://[\(host)]:\(port)" : "grpc://\(host):\(port)"
            case .unix(let path): "unix:\(path)"
            }
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
    /// - Throws: if an address cannot be bound (in use, no permission), naming it.
    public init(storage: ServerStorage, listen: [Address], limits: ServerLimits = ServerLimits(),
                execution: ExecutionConfiguration? = nil) async throws {
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
            let transport = HTTP2ServerTransport.Posix(
                address: address.socketAddress, transportSecurity: .plaintext,
                config: .defaults {
                    $0.rpc.maxRequestPayloadSize = limits.maxMessageBytes
                    // Uploads stream without waiting on flow-control updates every 64 KiB.
                    $0.http2.maxFrameSize = 1 << 20
                    $0.http2.targetWindowSize = 16 << 20
                })
            let server = GRPCServer(transport: transport, services: services,
                                    interceptors: [StatsInterceptor(stats: stats)])
            servers.append(server)
            serving.append(Task { try await server.serve() })
            do {
                let actual = try await transport.listeningAddress
                if let ipv4 = actual.ipv4 {
                    bound.append(.tcp(host: ipv4.host, port: ipv4.port))
                } else if let ipv6 = actual.ipv6 {
                    bound.append(.tcp(host: ipv6.host, port: ipv6.port))
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
        case .tcp(let host, let port): host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
        case .unix(let path): .unixDomainSocket(path: path)
        }
    }
}
