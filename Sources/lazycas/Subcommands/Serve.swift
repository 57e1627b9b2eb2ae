import ArgumentParser
import Foundation
import Glibc
import LocalCAS
import RemoteCAS
import Sandbox
import Server

/// `lazycas serve`: the embedded REAPI server.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a REAPI v2 server (CAS, ActionCache, Execution, Remote Asset) on this machine.",
        discussion: """
            Any REAPI client can use it: lazycas itself, buildbox-casd (as its --cas-remote), \
            buildbox-fuse, Bazel, BuildStream. Actions run in bubblewrap with the staged input \
            root as /, no network, and no host files unless the platform property \
            lazycas.host-tools=true asks for a read-only /usr, /bin, /lib. SIGINT or SIGTERM stop \
            it; SIGUSR1 logs the per-method counters. A grpcs:// listener needs --tls-cert and \
            --tls-key; with --client-ca its clients must present a certificate signed by that CA \
            (and may then call anything). With --auth-tokens every listener, Unix sockets \
            included, wants 'authorization: Bearer TOKEN' with a token whose scopes cover the call \
            (read: GetCapabilities, CAS and ByteStream reads, GetActionResult, Fetch; write: \
            uploads, UpdateActionResult, Push; execute: Execute, WaitExecution).
            """
    )

    @Option(name: .long, help: "Address to listen on: grpc://HOST:PORT (port 0: any free port), grpcs://HOST:PORT (TLS) or unix:/PATH (repeatable; default grpc://127.0.0.1:50051).")
    var listen: [String] = []

    @Option(name: .long, help: "Where the server keeps its CAS and caches (default: ~/.local/share/lazycas/server).")
    var storage: String?

    @Option(name: .long, help: "Actions running at once; more wait in a queue (default: the number of CPUs).")
    var jobs: Int?

    @Option(name: .long, help: "Keep the CAS under this size (e.g. 20G, 500M), evicting least recently used blobs; default: no limit.")
    var maxSize: String?

    @Option(name: .long, help: "Write per-method counters (JSON) to this file, refreshed every second.")
    var statsFile: String?

    @Option(name: .long, help: ArgumentHelp("PEM certificate chain of the grpcs:// listeners.", valueName: "file"))
    var tlsCert: String?

    @Option(name: .long, help: ArgumentHelp("PEM private key of the grpcs:// listeners.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .long, help: ArgumentHelp("PEM CA: grpcs:// clients must present a certificate it signed (mutual TLS), which grants every scope.", valueName: "file"))
    var clientCa: String?

    @Option(name: .long, help: ArgumentHelp("Accept only these bearer tokens: one 'TOKEN SCOPE[,SCOPE…]' per line, scopes read, write, execute.", valueName: "file"))
    var authTokens: String?

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if clientCa != nil && tlsCert == nil { throw ValidationError("--client-ca needs --tls-cert and --tls-key (and a grpcs:// listener)") }
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let maxSize, Self.bytes(maxSize) == nil {
            throw ValidationError("--max-size '\(maxSize)' is not a size: use bytes or a number with K, M, G or T (e.g. 20G)")
        }
    }

    /// "20G", "500M", "1024": bytes (binary units).
    static func bytes(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40]
        var number = text.uppercased()
        if number.hasSuffix("B") { number.removeLast() }
        var scale: Int64 = 1
        if let last = number.last, let unit = units[last] {
            scale = unit
            number.removeLast()
        }
        guard let value = Double(number), value > 0 else { return nil }
        return Int64(value * Double(scale))
    }

    func run() async throws {
        let addresses = try (listen.isEmpty ? ["grpc://127.0.0.1:50051"] : listen).map(Self.address)
        let root = URL(fileURLWithPath: expandingTilde(storage ?? homeDirectory + "/.local/share/lazycas/server")).standardizedFileURL.path
        let storage = try ServerStorage(root: root, maxBytes: maxSize.flatMap(Self.bytes))
        let execution = ExecutionConfiguration(jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount, workRoot: root + "/work")
        var security = ServerSecurity()
        if let tlsCert, let tlsKey {
            security.tls = try ServerSecurity.TLS(certificateChain: tlsCert, privateKey: tlsKey, clientCA: clientCa)
        }
        if let authTokens { security.tokens = try AccessTokens(contentsOf: authTokens) }
        if security.tls != nil, !addresses.contains(where: { if case .tls = $0 { true } else { false } }) {
            throw CASError(.invalidArgument, "--tls-cert is for grpcs:// listeners; none is given (--listen grpcs://HOST:PORT)")
        }
        let server = try await EmbeddedServer(storage: storage, listen: addresses, execution: execution, security: security)
        let limit = storage.quota.map { ", at most \(formatBytes($0.maxBytes))" } ?? ""
        let guarded = security.tokens == nil ? "" : ", bearer tokens required"
        Terminal.note("serving on \(server.addresses.map(\.description).joined(separator: ", ")) (storage \(root)\(limit), \(execution.jobs) jobs\(guarded))")
        let stats = server.stats
        let signals = SignalTrap([SIGINT, SIGTERM, SIGUSR1]) { sig in
            if sig == SIGUSR1 {
                Terminal.note("stats: \(stats.summary())")
            } else {
                Task { await server.stop() }
            }
        }
        let writer = statsFile.map { path in
            Task {
                while !Task.isCancelled {
                    try? AtomicFile.write(stats.json(), to: path)
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
        try await server.wait()
        writer?.cancel()
        if let statsFile {
            _ = FileManager.default.createFile(atPath: statsFile, contents: stats.json())
        }
        signals.release()
        Terminal.note("stopped")
    }

    static func address(_ text: String) throws -> EmbeddedServer.Address {
        let endpoint = try RemoteEndpoint(parsing: text, forListening: true)
        switch endpoint.address {
        case .tcp(let host, let port): return endpoint.usesTLS ? .tls(host: host, port: port) : .tcp(host: host, port: port)
        case .unix(let path): return .unix(path: path)
        }
    }
}
