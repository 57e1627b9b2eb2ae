import Foundation
import Server
import TestSupport
import Testing

/// `lazycas serve` guarded by bearer tokens with scopes, TLS and mutual TLS, with lazycas's own
/// client, buildbox-casd as a proxy in front of it, and BuildStream 2.8.1 as clients.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled), .serialized)
struct ServeSecurityTests {
    let cli = CLI()

    /// A source tree of one file, for uploads.
    private func source() throws -> String {
        let src = cli.home.sub("src-\(UUID().uuidString.prefix(8))")
        try "guarded bytes\n".write(toFile: src + "/f", atomically: true, encoding: .utf8)
        return src
    }

    private func tokenFile(_ token: String) throws -> String {
        let path = cli.home.path + "/token-\(UUID().uuidString.prefix(8))"
        try "\(token)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func tokensGuardEveryListenerByScopeAndAreNeverLogged() async throws {
        let tokens = cli.home.path + "/tokens"
        try "# who may do what\nr3ader read\nwr1ter read,write\n\nexecut0r read,write,execute\n"
            .write(toFile: tokens, atomically: true, encoding: .utf8)
        let socket = cli.home.path + "/serve.sock"
        let serve = try await ServeProcess.start(cli.home.path, ["--listen", "grpc://127.0.0.1:0", "--listen", "unix:\(socket)",
                                                                "--auth-tokens", tokens, "--verbose"])
        defer { serve.stop() }
        #expect(serve.firstLine.contains("bearer tokens required"), "\(serve.firstLine)")
        let src = try source()
        let cli = self.cli
        func put(_ remote: String, token: String?) async throws -> CLI.Result {
            let auth = try token.map { ["--token-file", try tokenFile($0)] } ?? []
            return try await offPool {
                try cli.run(["cas", "put", src, "--remote", remote, "--timeout", "10", "--cache-dir", cli.home.sub("c-\(UUID().uuidString.prefix(8))")] + auth)
            }
        }
        // No token, or one not in the file: UNAUTHENTICATED, on TCP and on the Unix socket alike.
        for remote in [serve.tcp, "unix:\(socket)"] {
            let anonymous = try await put(remote, token: nil)
            #expect(anonymous.status == 2 && anonymous.stderr.contains("unauthenticated"), "\(remote): \(anonymous.stderr)")
            let forged = try await put(remote, token: "n0body")
            #expect(forged.status == 2 && forged.stderr.contains("unauthenticated"), "\(remote): \(forged.stderr)")
        }
        // A read token may look but not upload: PERMISSION_DENIED.
        let reader = try await put(serve.tcp, token: "r3ader")
        #expect(reader.status == 2 && reader.stderr.contains("permissionDenied") && reader.stderr.contains("'write' scope"), "\(reader.stderr)")
        // A write token uploads (over the Unix socket); the read token then reads it back.
        let writer = try await put("unix:\(socket)", token: "wr1ter")
        #expect(writer.status == 0, "\(writer.stderr)")
        let root = writer.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let readerToken = try tokenFile("r3ader")
        let cat = try await offPool {
            try cli.run(["cas", "cat", root, "f", "--remote", serve.tcp, "--token-file", readerToken, "--cache-dir", cli.home.sub("cat")])
        }
        #expect(cat.stdout == "guarded bytes\n", "\(cat.stderr)")

        // Execute needs the execute scope: a build with the write token is refused at Execute,
        // with the execute token it runs.
        let project = try cli.examples()
        let writerToken = try tokenFile("wr1ter"), executorToken = try tokenFile("execut0r")
        let denied = try await offPool {
            try cli.run(["build", "hello.bst", "--remote", serve.tcp, "--token-file", writerToken, "--timeout", "10"], in: project)
        }
        #expect(denied.status != 0 && denied.stderr.contains("'execute' scope"), "\(denied.stderr)")
        let built = try await offPool {
            try cli.run(["build", "hello.bst", "--remote", serve.tcp, "--token-file", executorToken], in: project)
        }
        #expect(built.status == 0, "\(built.stderr)")

        let log = serve.stop()
        #expect(log.contains("refused Execute from") && log.contains("lacks the 'execute' scope"), "refusals are logged:\n\(log.suffix(2000))")
        for token in ["r3ader", "wr1ter", "execut0r", "n0body"] {
            #expect(!log.contains(token), "the server logged a token")
        }
    }

    @Test func badTokenFilesAndTLSFlagsAreUserErrors() throws {
        let tokens = cli.home.path + "/bad-tokens"
        try "t0ken read,delete\n".write(toFile: tokens, atomically: true, encoding: .utf8)
        let badScope = try cli.run(["serve", "--listen", "grpc://127.0.0.1:0", "--auth-tokens", tokens, "--storage", cli.home.sub("s")])
        #expect(badScope.status == 1 && badScope.stderr.contains("bad-tokens:1") && badScope.stderr.contains("'delete'"), "\(badScope.stderr)")
        #expect(!badScope.stderr.contains("t0ken"), "an error never quotes a token")
        let noKey = try cli.run(["serve", "--listen", "grpcs://127.0.0.1:0", "--tls-cert", tokens, "--storage", cli.home.sub("s")])
        #expect(noKey.status != 0 && noKey.stderr.contains("--tls-key"), "\(noKey.stderr)")
        let noCert = try cli.run(["serve", "--listen", "grpcs://127.0.0.1:0", "--storage", cli.home.sub("s")])
        #expect(noCert.status == 1 && noCert.stderr.contains("--tls-cert"), "\(noCert.stderr)")
    }

    @Test func mutualTLSAdmitsOnlyCertificatesTheClientCASigned() async throws {
        let certs = try TestCertificates(in: cli.home.sub("certs"))
        let server = try await TestServer.start(.lazycasServe, security: ServerSecurity(
            tls: try ServerSecurity.TLS(certificateChain: certs.serverCert, privateKey: certs.serverKey, clientCA: certs.ca),
            tokens: try AccessTokens(parsing: "only-for-plain-listeners read\n", source: "inline")))
        defer { Task { await server.stop() } }
        #expect(server.url.hasPrefix("grpcs://"))
        let src = try source()
        let cli = self.cli
        func put(_ identity: [String]) async throws -> CLI.Result {
            try await offPool {
                try cli.run(["cas", "put", src, "--remote", server.url, "--server-cert", certs.ca, "--timeout", "30",
                             "--cache-dir", cli.home.sub("c-\(UUID().uuidString.prefix(8))")] + identity)
            }
        }
        // A certificate the CA signed grants every scope, no token needed.
        let admitted = try await put(["--client-cert", certs.clientCert, "--client-key", certs.clientKey])
        #expect(admitted.status == 0, "\(admitted.stderr)")
        // No certificate, or one the CA did not sign: the handshake fails.
        let anonymous = try await put([])
        #expect(anonymous.status == 2, "\(anonymous.stderr)")
        let stranger = try await put(["--client-cert", certs.strangerCert, "--client-key", certs.strangerKey])
        #expect(stranger.status == 2, "\(stranger.stderr)")

        // buildbox-casd as a proxy in front of it, with the client certificate.
        let proxy = try await BuildboxCASD(extraArguments: [
            "--cas-remote=https://127.0.0.1:\(server.port)", "--cas-server-cert=\(certs.ca)",
            "--cas-client-cert=\(certs.clientCert)", "--cas-client-key=\(certs.clientKey)"])
        defer { proxy.stop() }
        let through = try await offPool { try cli.run(["cas", "put", try self.source(), "--remote", proxy.url, "--cache-dir", cli.home.sub("via-casd")]) }
        #expect(through.status == 0, "\(through.stderr)")
        let root = through.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let back = try await offPool {
            try cli.run(["cas", "cat", root, "f", "--remote", server.url, "--server-cert", certs.ca, "--client-cert", certs.clientCert,
                         "--client-key", certs.clientKey, "--cache-dir", cli.home.sub("back")])
        }
        #expect(back.stdout == "guarded bytes\n", "the proxy's upload reached our server: \(back.stderr)")
    }

    @Test func buildStreamBuildsOnAGuardedServeWithClientCertificatesOrAnAccessToken() async throws {
        try #require(TestEnvironment.buildStreamTestsEnabled)
        let certs = try TestCertificates(in: cli.home.sub("certs"))
        let tokens = cli.home.path + "/tokens"
        try "bst-t0ken read,write,execute\n".write(toFile: tokens, atomically: true, encoding: .utf8)
        let project = try cli.examples()
        let cases: [(String, ServerSecurity, [String: String])] = [
            ("client certificate",
             ServerSecurity(tls: try ServerSecurity.TLS(certificateChain: certs.serverCert, privateKey: certs.serverKey, clientCA: certs.ca)),
             ["server-cert": certs.ca, "client-cert": certs.clientCert, "client-key": certs.clientKey]),
            ("access token",
             ServerSecurity(tls: try ServerSecurity.TLS(certificateChain: certs.serverCert, privateKey: certs.serverKey),
                            tokens: try AccessTokens(contentsOf: tokens)),
             ["server-cert": certs.ca, "access-token": try tokenFile("bst-t0ken")]),
        ]
        for (name, security, auth) in cases {
            let server = try await TestServer.start(.lazycasServe, security: security)
            let work = TemporaryDirectory("bst")
            let config = try writeBuildStreamConfig(in: work, remote: "https://127.0.0.1:\(server.port)", auth: auth)
            let (status, log) = try await offPool {
                try runBuildStream(["--config", config, "--directory", project, "build", "hello.bst"], work: work)
            }
            #expect(status == 0, "bst build with a \(name) failed:\n\(log.suffix(3000))")
            let executed = server.embedded!.stats.snapshot["Execute"]?.requests ?? 0
            #expect(executed >= 1, "with a \(name), BuildStream's actions ran on lazycas serve")
            await server.stop()
        }
        // Without credentials BuildStream is turned away.
        let server = try await TestServer.start(.lazycasServe, security: cases[1].1)
        let work = TemporaryDirectory("bst")
        let config = try writeBuildStreamConfig(in: work, remote: "https://127.0.0.1:\(server.port)", auth: ["server-cert": certs.ca])
        let (status, log) = try await offPool {
            try runBuildStream(["--config", config, "--directory", project, "build", "hello.bst"], work: work)
        }
        #expect(status != 0 && log.lowercased().contains("unauthenticated"), "\(log.suffix(2000))")
        await server.stop()
    }
}
