import Foundation
import LocalCAS
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
    /// `grpc://127.0.0.1:PORT` (`grpcs://` for a TLS server).
    public let url: String
    public let port: Int
    /// Set for ``ServerKind/lazycasServe``.
    public let embedded: EmbeddedServer?
    private let storage: ServerStorage?
    private let casd: BuildboxCASD?
    private let directory: TemporaryDirectory

    private init(kind: ServerKind, port: Int, tls: Bool = false, embedded: EmbeddedServer?, storage: ServerStorage? = nil,
                 casd: BuildboxCASD?, directory: TemporaryDirectory) {
        self.kind = kind
        self.port = port
        url = (tls ? "grpcs" : "grpc") + "://127.0.0.1:\(port)"
        self.embedded = embedded
        self.storage = storage
        self.casd = casd
        self.directory = directory
    }

    /// Where the server keeps `digest` on disk.
    private func blobPath(_ digest: Digest) -> String {
        if let storage { return storage.cas.path(of: digest) }
        return casd!.cacheDir.path + "/cache/cas/objects/\(digest.hash.prefix(2))/\(digest.hash.dropFirst(2))"
    }

    /// Deletes `digest` from the server's CAS, as an eviction would.
    public func evict(_ digest: Digest) throws {
        let path = blobPath(digest)
        guard FileManager.default.fileExists(atPath: path) else { throw TestSupportError("\(kind) does not hold \(digest) (at \(path))") }
        try FileManager.default.removeItem(atPath: path)
    }

    /// The bytes of `digest` as the server's CAS holds them on disk.
    public func read(_ digest: Digest) throws -> Data {
        guard let data = FileManager.default.contents(atPath: blobPath(digest)) else { throw TestSupportError("\(kind) does not hold \(digest)") }
        return data
    }

    /// Whether the server's CAS holds `digest`.
    public func holds(_ digest: Digest) -> Bool {
        FileManager.default.fileExists(atPath: blobPath(digest))
    }

    /// Starts a fresh server with empty storage.
    /// - Parameters:
    ///   - maxBytes: a CAS size limit (`lazycas serve` only).
    ///   - execution: give buildbox-casd its local execution service (`--buildbox-run`, the
    ///     bubblewrap runner from the same wheel); `lazycas serve` always executes.
    ///   - security: TLS (then it listens on `grpcs://` only) and tokens (`lazycas serve` only).
    ///   - also: more addresses to listen on (`lazycas serve` only).
    public static func start(_ kind: ServerKind, jobs: Int = 2, maxBytes: Int64? = nil, execution: Bool = false,
                             security: ServerSecurity = .open, also: [EmbeddedServer.Address] = []) async throws -> TestServer {
        let dir = TemporaryDirectory("server")
        switch kind {
        case .buildboxCASD:
            let casd = try await BuildboxCASD(extraArguments: execution ? ["--buildbox-run=\(TestEnvironment.toolsDir)/buildbox/buildbox-run"] : [])
            return TestServer(kind: kind, port: casd.port, embedded: nil, casd: casd, directory: dir)
        case .lazycasServe:
            let storage = try ServerStorage(root: dir.sub("storage"), maxBytes: maxBytes)
            let tls = security.tls != nil
            let server = try await EmbeddedServer(
                storage: storage, listen: [tls ? .tls(host: "127.0.0.1", port: 0) : .tcp(host: "127.0.0.1", port: 0)] + also,
                execution: ExecutionConfiguration(jobs: jobs, workRoot: dir.sub("work")), security: security)
            switch server.addresses.first {
            case .tcp(_, let port)?, .tls(_, let port)?:
                return TestServer(kind: kind, port: port, tls: tls, embedded: server, storage: storage, casd: nil, directory: dir)
            default:
                throw TestSupportError("no port")
            }
        }
    }

    public func stop() async {
        await embedded?.stop()
        casd?.stop()
    }
}
