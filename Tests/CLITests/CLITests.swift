import Foundation
import LocalCAS
import Mount
import Glibc
import TestSupport
import Testing

/// Runs the built `lazycas` binary with a private HOME, so the user's config and cache are
/// never touched.
struct CLI {
    let home: TemporaryDirectory

    init() { home = TemporaryDirectory("cli-home") }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    @discardableResult
    func run(_ arguments: [String], in directory: String? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.lazycasBinary)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env.removeValue(forKey: "XDG_CONFIG_HOME")
        env.removeValue(forKey: "XDG_CACHE_HOME")
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    /// The default cache directory under the private HOME.
    var cacheDir: String { home.path + "/.cache/lazycas" }

    /// A copy of examples/hello in the private HOME.
    func examples() throws -> String {
        let project = home.path + "/hello"
        try FileManager.default.copyItem(atPath: TestEnvironment.packageRoot + "/examples/hello", toPath: project)
        return project
    }
}

@Suite struct CLIInputTests {
    let cli = CLI()

    @Test func workerRefusesBadInputBeforeItStarts() throws {
        let noScheduler = try cli.run(["worker", "--work-dir", cli.home.sub("w")])
        #expect(noScheduler.status == 1)
        #expect(noScheduler.stderr.contains("--bots-remote"), "\(noScheduler.stderr)")
        let badStage = try cli.run(["worker", "--bots-remote", "grpc://127.0.0.1:1", "--stage", "mirror"])
        #expect(badStage.status == 1)
        #expect(badStage.stderr.contains("--stage is lazy or copy"), "\(badStage.stderr)")
        let badPlatform = try cli.run(["worker", "--bots-remote", "grpc://127.0.0.1:1", "--platform", "OSFamily"])
        #expect(badPlatform.status == 1)
        #expect(badPlatform.stderr.contains("NAME=VALUE"), "\(badPlatform.stderr)")
        let badLimit = try cli.run(["worker", "--bots-remote", "grpc://127.0.0.1:1", "--cache-limit", "lots"])
        #expect(badLimit.status == 1)
        #expect(badLimit.stderr.contains("is not a size"), "\(badLimit.stderr)")
    }

    @Test(arguments: [
        ["--help"], ["cas", "--help"], ["cas", "put", "--help"], ["cas", "get-tree", "--help"],
        ["cas", "ls", "--help"], ["cas", "cat", "--help"], ["ref", "--help"], ["ref", "set", "--help"],
        ["mount", "--help"], ["umount", "--help"], ["serve", "--help"], ["cas", "stats", "--help"],
        ["build", "--help"], ["artifact", "--help"], ["shell", "--help"], ["checkout", "--help"], ["artifact", "list", "--help"], ["artifact", "log", "--help"], ["worker", "--help"],
        ["source", "--help"], ["source", "fetch", "--help"], ["source", "track", "--help"],
    ])
    func everyCommandHasHelp(arguments: [String]) throws {
        let r = try cli.run(arguments)
        #expect(r.status == 0)
        #expect(r.stdout.contains("USAGE:"), "no usage in: \(r.stdout)")
    }

    @Test func aMalformedDigestIsAUserErrorThatSaysWhatIsWrong() throws {
        let r = try cli.run(["cas", "ls", "abc/12"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("'abc/12'"))
        #expect(r.stderr.contains("64 hex characters"))
    }

    @Test func anUnknownRefIsAUserError() throws {
        let r = try cli.run(["ref", "get", "no-such-ref"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("unknown ref 'no-such-ref'"))
    }

    @Test func anUnknownFlagIsAUserError() throws {
        let r = try cli.run(["cas", "ls", Digest.empty.description, "--frobnicate"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("--frobnicate"))
    }

    @Test func aBadRemoteURLIsAUserError() throws {
        let r = try cli.run(["cas", "get-tree", Digest.empty.description, "--remote", "ftp://x:1"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("invalid remote 'ftp://x:1'"))
    }

    @Test func refsRoundTripThroughTheDefaultCacheDir() throws {
        let digest = Digest(data: Data("x".utf8)).description
        #expect(try cli.run(["ref", "set", "team/app", digest]).status == 0)
        #expect(try cli.run(["ref", "get", "team/app"]).stdout == digest + "\n")
        #expect(try cli.run(["ref", "list"]).stdout == "team/app \(digest)\n")
        #expect(FileManager.default.fileExists(atPath: cli.cacheDir + "/refs/team/app"))
        let bad = try cli.run(["ref", "set", "../escape", digest])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("invalid ref name"))
    }

    @Test func aConfigFileWithATypoIsRejectedNamingTheKey() throws {
        let config = cli.home.path + "/c.yaml"
        try "remtoe: grpc://127.0.0.1:1\n".write(toFile: config, atomically: true, encoding: .utf8)
        let r = try cli.run(["cas", "get-tree", Digest.empty.description, "--config", config])
        #expect(r.status == 1)
        #expect(r.stderr.contains("unknown key 'remtoe'"))
    }
}

/// The README's commands against a real buildbox-casd.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled), .serialized)
struct CLIRemoteTests {
    let cli = CLI()

    func makeSource() -> (String, TreeFixture) {
        var fixture = TreeFixture(root: cli.home.sub("src"))
        fixture.populate(files: 50, largeFiles: [5_000_000])
        fixture.write("hello.txt", Data("hello, world\n".utf8))
        fixture.symlink("link", to: "hello.txt")
        fixture.directory("empty")
        return (fixture.root, fixture)
    }

    @Test func putGetTreeLsCatAndRefsWorkEndToEnd() async throws {
        let casd = try await BuildboxCASD()
        let (src, _) = makeSource()
        let put = try cli.run(["cas", "put", src, "--remote", casd.url, "--cache-dir", cli.home.sub("a")])
        #expect(put.status == 0, "\(put.stderr)")
        let root = put.stdout.trimmingCharacters(in: .newlines)
        _ = try Digest(parsing: root)
        #expect(put.stderr.contains("uploaded 114 of 115 blobs"), "all but the empty Directory: \(put.stderr)")

        // A second machine: fresh cache, Directory nodes only.
        let cache = cli.home.sub("b")
        let get = try cli.run(["cas", "get-tree", root, "--remote", casd.url, "--cache-dir", cache])
        #expect(get.status == 0, "\(get.stderr)")
        let store = try LocalContentStore(root: cache)
        let directoriesOnly = store.allDigests().count

        // ls works with the server stopped.
        casd.stop()
        let ls = try cli.run(["cas", "ls", root, "--cache-dir", cache])
        #expect(ls.status == 0, "\(ls.stderr)")
        #expect(ls.stdout.contains("hello.txt"))
        #expect(ls.stdout.contains("link -> hello.txt"))
        #expect(ls.stdout.contains("empty/"))
        let lsSub = try cli.run(["cas", "ls", root + "/large", "--cache-dir", cache])
        #expect(lsSub.stdout.contains("5000000 big0.bin"))
        // The path as an argument of its own, as `cas cat TREE PATH` takes it; by ref too.
        #expect(try cli.run(["cas", "ls", root, "large", "--cache-dir", cache]).stdout == lsSub.stdout)
        #expect(try cli.run(["ref", "set", "team/tree", root, "--cache-dir", cache]).status == 0)
        #expect(try cli.run(["cas", "ls", "team/tree", "large", "--cache-dir", cache]).stdout == lsSub.stdout)
        #expect(try cli.run(["cas", "ls", "team/tree:large", "--cache-dir", cache]).stdout == lsSub.stdout)

        // cat with the server down: a remote error, exit 2, nothing stored.
        let down = try cli.run(["cas", "cat", root, "hello.txt", "--remote", casd.url, "--cache-dir", cache])
        #expect(down.status == 2)
        #expect(down.stderr.contains(casd.url))
        #expect(store.allDigests().count == directoriesOnly)
    }

    @Test func catFetchesOneBlobAndThenReadsItLocally() async throws {
        let casd = try await BuildboxCASD()
        let (src, _) = makeSource()
        let root = try cli.run(["cas", "put", src, "--remote", casd.url, "--cache-dir", cli.home.sub("a")])
            .stdout.trimmingCharacters(in: .newlines)
        let cache = cli.home.sub("b")
        // Remote and instance from the config file this time.
        let config = cli.home.path + "/config.yaml"
        try "remote: \(casd.url)\ninstance: \"\"\ncache-dir: \(cache)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let cat = try cli.run(["cas", "cat", root, "hello.txt", "--config", config])
        #expect(cat.status == 0, "\(cat.stderr)")
        #expect(cat.stdout == "hello, world\n")
        let store = try LocalContentStore(root: cache)
        let fileBlobs = store.allDigests().filter { (try? ValidatedDirectory(serialized: store.read($0))) == nil }
        #expect(fileBlobs == [Digest(data: Data("hello, world\n".utf8))], "only the file that was read")
        casd.stop()
        let again = try cli.run(["cas", "cat", root, "hello.txt", "--config", config])
        #expect(again.status == 0, "cached: works with the server down")
        #expect(again.stdout == "hello, world\n")
        let big = try cli.run(["cas", "cat", root, "large/big0.bin", "--config", config])
        #expect(big.status == 2)
    }

    @Test func aUnixSocketRemoteWorks() async throws {
        let socket = cli.home.path + "/casd.sock"
        let casd = try await BuildboxCASD(extraArguments: ["--bind=unix:\(socket)"])
        let (src, _) = makeSource()
        let put = try cli.run(["cas", "put", src, "--remote", "unix:\(socket)", "--cache-dir", cli.home.sub("a")])
        #expect(put.status == 0, "\(put.stderr)")
        let root = put.stdout.trimmingCharacters(in: .newlines)
        let cat = try cli.run(["cas", "cat", root, "hello.txt", "--remote", "unix:\(socket)", "--cache-dir", cli.home.sub("b")])
        #expect(cat.stdout == "hello, world\n")
        casd.stop()
    }
}

/// TLS and bearer tokens, through the test proxy serving TLS in front of buildbox-casd.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled), .serialized)
struct CLISecurityTests {
    let cli = CLI()

    /// A self-signed certificate for 127.0.0.1, made with openssl.
    func makeCertificate() throws -> (cert: String, key: String) {
        let cert = cli.home.path + "/cert.pem", key = cli.home.path + "/key.pem"
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                             "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        #expect(openssl.terminationStatus == 0)
        return (cert, key)
    }

    @Test func grpcsWithAServerCertAndABearerToken() async throws {
        let casd = try await BuildboxCASD()
        let (cert, key) = try makeCertificate()
        let proxy = try await FaultInjectingProxy(upstreamPort: casd.port, tls: (cert, key))
        let src = cli.home.sub("src")
        try "secret stuff\n".write(toFile: src + "/f", atomically: true, encoding: .utf8)
        let token = cli.home.path + "/token"
        try "s3cr3t\n".write(toFile: token, atomically: true, encoding: .utf8)
        let remote = "grpcs://127.0.0.1:\(proxy.port)"

        let put = try cli.run(["cas", "put", src, "--remote", remote, "--server-cert", cert,
                               "--token-file", token, "--cache-dir", cli.home.sub("a")])
        #expect(put.status == 0, "\(put.stderr)")
        let root = put.stdout.trimmingCharacters(in: .newlines)
        let cat = try cli.run(["cas", "cat", root, "f", "--remote", remote, "--server-cert", cert,
                               "--token-file", token, "--cache-dir", cli.home.sub("b")])
        #expect(cat.stdout == "secret stuff\n", "\(cat.stderr)")
        #expect(!proxy.authorizations.isEmpty)
        #expect(proxy.authorizations.allSatisfy { $0 == "Bearer s3cr3t" }, "\(proxy.authorizations)")

        // Without trusting the certificate the handshake fails: a remote error.
        let untrusted = try cli.run(["cas", "cat", root, "f", "--remote", remote, "--timeout", "5",
                                     "--cache-dir", cli.home.sub("c")])
        #expect(untrusted.status == 2)
        await proxy.stop()
    }
}

/// `lazycas mount` and `umount` as a user runs them.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled && TestEnvironment.fuseTestsEnabled), .serialized)
struct CLIMountTests {
    let cli = CLI()

    func upload(_ casd: BuildboxCASD) throws -> String {
        var fixture = TreeFixture(root: cli.home.sub("src"))
        fixture.populate(files: 20)
        fixture.write("hello.txt", Data("hello, mount\n".utf8))
        let put = try cli.run(["cas", "put", fixture.root, "--remote", casd.url, "--cache-dir", cli.home.sub("a")])
        return put.stdout.trimmingCharacters(in: .newlines)
    }

    @Test func badMountpointsAndTreesAreUserErrors() async throws {
        let missing = try cli.run(["mount", Digest.empty.description, cli.home.path + "/nope"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("does not exist"))
        let file = cli.home.path + "/file"
        FileManager.default.createFile(atPath: file, contents: Data())
        #expect(try cli.run(["mount", Digest.empty.description, file]).stderr.contains("not a directory"))
        let unknown = try cli.run(["mount", "no-such-ref", cli.home.sub("m")])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no-such-ref"))
        let malformed = try cli.run(["mount", "abcd/12", cli.home.sub("m")])
        #expect(malformed.status == 1)
    }

    @Test func mountReadStatsUmount() async throws {
        let casd = try await BuildboxCASD()
        let root = try upload(casd)
        let mnt = cli.home.sub("mnt")
        let cache = cli.home.sub("b")
        let mount = try cli.run(["mount", root, mnt, "--remote", casd.url, "--cache-dir", cache])
        #expect(mount.status == 0, "\(mount.stderr)")
        #expect(Mountpoint.isMounted(mnt))
        let busy = try cli.run(["mount", root, mnt, "--remote", casd.url, "--cache-dir", cache])
        #expect(busy.status == 1)
        #expect(busy.stderr.contains("busy"))
        let content = try await offPool { try String(contentsOfFile: mnt + "/hello.txt", encoding: .utf8) }
        #expect(content == "hello, mount\n")
        try await Task.sleep(for: .milliseconds(600))
        let stats = try cli.run(["cas", "stats", "--cache-dir", cache])
        #expect(stats.stdout.contains(mnt))
        #expect(stats.stdout.contains("misses 1"), "\(stats.stdout)")
        let umount = try cli.run(["umount", mnt])
        #expect(umount.status == 0, "\(umount.stderr)")
        try await Task.sleep(for: .milliseconds(300))
        #expect(!Mountpoint.isMounted(mnt))
        // The mount fetched the Directory nodes into memory and stored them while serving:
        // the tree now lists offline.
        let ls = try cli.run(["cas", "ls", root, "--cache-dir", cache])
        #expect(ls.status == 0, "\(ls.stderr)")
        #expect(ls.stdout.contains("hello.txt"))
    }

    /// The process serving a mount is the mount daemon, `lazycas-mount`: it holds no pipe of
    /// whoever ran `lazycas mount` (Foundation's `Process` there would wait for it to close), and
    /// neither loads nor contains Foundation (only FoundationEssentials).
    @Test func aMountIsServedByTheSlimDaemonWhichKeepsNothingOfItsCaller() async throws {
        let casd = try await BuildboxCASD()
        let root = try upload(casd)
        let mnt = cli.home.sub("mnt")
        let mount = try cli.run(["mount", root, mnt, "--remote", casd.url, "--cache-dir", cli.home.sub("b")])
        #expect(mount.status == 0, "\(mount.stderr)")
        defer { _ = try? cli.run(["umount", mnt]) }
        let pid = try #require(mount.stderr.split(separator: "(pid ").last?.split(separator: ",").first.flatMap { Int32($0) })
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        #expect(exe.hasSuffix("/lazycas-mount"), "\(exe)")
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        for library in ["libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so", "libcurl"] {
            #expect(!maps.contains(library), "the mount daemon maps \(library)")
        }
        // Linked statically, Foundation would bring its NSObject (named in the symbol table).
        let binary = try Data(contentsOf: URL(fileURLWithPath: exe))
        #expect(binary.range(of: Data("$s10Foundation8NSObjectCMn".utf8)) == nil, "Foundation is linked into \(exe)")
        // It exports only what the libraries need of it (about 500 symbols, not Swift's default
        // of all 50,000, whose tables the dynamic linker would read at every start).
        let exported = try #require(dynamicSymbolCount(ofELF: binary), "\(exe) has no dynamic symbol table")
        #expect(exported < 5_000, "\(exe) exports \(exported) symbols")
        let content = try await offPool { try String(contentsOfFile: mnt + "/hello.txt", encoding: .utf8) }
        #expect(content == "hello, mount\n")
        // Its own descriptors are /dev/null, its log, /dev/fuse, event and timer fds and TCP
        // connections to casd; a pipe or a Unix socket (Foundation's Process watches its child
        // through one) could only be inherited.
        let unixSockets = try String(contentsOfFile: "/proc/net/unix", encoding: .utf8).split(separator: "\n").dropFirst()
            .compactMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst(6).first.map { "socket:[\($0)]" } }
        let inherited = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
            .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)") }
            .filter { $0.hasPrefix("pipe:") || unixSockets.contains($0) }
        #expect(inherited.isEmpty, "the mount daemon holds \(inherited)")
    }

    /// The order the linker lays the mount daemon's code out in (linker/lazycas-mount.order,
    /// recorded by scripts/order-mount-daemon.sh) still names the daemon's own functions: a list
    /// gone stale after the code changed fails nothing else, it only costs every mount memory.
    /// (This debug build lacks the release build's specializations, so not every name is here.)
    @Test func theMountDaemonsCodeOrderNamesFunctionsItStillHas() throws {
        let order = try String(contentsOfFile: TestEnvironment.packageRoot + "/linker/lazycas-mount.order", encoding: .utf8)
        let ownModules = ["5Mount", "11MountDaemon", "8LocalCAS", "9RemoteCAS"].map { ".text.$s" + $0 }
        let listed = order.split(separator: "\n")
            .filter { line in ownModules.contains { line.hasPrefix($0) } }
            .map { String($0.dropFirst(".text.".count)) }
        #expect(listed.count > 300, "the order lists \(listed.count) functions of the daemon's own modules")
        let daemon = URL(fileURLWithPath: TestEnvironment.lazycasBinary).deletingLastPathComponent()
            .appendingPathComponent("lazycas-mount").path
        let nm = try runTool(["nm", "--defined-only", daemon])
        #expect(nm.status == 0, "\(nm.output.prefix(500))")
        let symbols = Set(nm.output.split(separator: "\n").compactMap { $0.split(separator: " ").last.map(String.init) })
        let present = listed.filter(symbols.contains).count
        #expect(present * 10 >= listed.count * 6,
                "only \(present) of the \(listed.count) functions linker/lazycas-mount.order names are in \(daemon): run scripts/order-mount-daemon.sh")
    }

    @Test func sigtermWhileAReadIsPendingUnmountsCleanly() async throws {
        let casd = try await BuildboxCASD()
        let root = try upload(casd)
        let proxy = try await FaultInjectingProxy(upstreamPort: casd.port)
        let mnt = cli.home.sub("mnt")
        let cache = cli.home.sub("b")
        _ = try cli.run(["cas", "get-tree", root, "--remote", casd.url, "--cache-dir", cache])
        proxy.setFaults { $0.delay = .seconds(5) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.lazycasBinary)
        process.arguments = ["mount", root, mnt, "--foreground", "--remote", proxy.url, "--cache-dir", cache]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 where !Mountpoint.isMounted(mnt) { try await Task.sleep(for: .milliseconds(25)) }
        #expect(Mountpoint.isMounted(mnt))
        // A reader blocks on a cold file whose fetch is delayed; then SIGTERM.
        let reader = Thread { _ = try? Data(contentsOf: URL(fileURLWithPath: mnt + "/hello.txt")) }
        reader.start()
        try await Task.sleep(for: .milliseconds(500))
        process.terminate()
        let exited = try await offPool { () -> Bool in
            for _ in 0..<400 where process.isRunning { usleep(25_000) }
            return !process.isRunning
        }
        #expect(exited, "the mount process ends on SIGTERM")
        var st = stat()
        let status = stat(mnt, &st)
        #expect(status == 0, "no 'Transport endpoint is not connected' left behind (errno \(errno))")
        #expect(!Mountpoint.isMounted(mnt))
        if process.isRunning { process.interrupt() }
        await proxy.stop()
    }
}

/// `lazycas serve` as a user runs it: listens where told, serves lazycas itself, stops cleanly.
@Suite(.serialized) struct CLIServeTests {
    let cli = CLI()

    @Test func serveListensOnTCPAndUnixServesAPutAndStopsOnSIGTERM() async throws {
        let socket = cli.home.path + "/serve.sock"
        let serve = try await ServeProcess.start(cli.home.path, ["--listen", "grpc://127.0.0.1:0", "--listen", "unix:\(socket)",
                                                                "--jobs", "1", "--stats-file", cli.home.path + "/stats.json"])
        // The first line names the addresses actually bound.
        #expect(serve.firstLine.hasPrefix("serving on grpc://127.0.0.1:"), "\(serve.firstLine)")
        #expect(serve.firstLine.contains("unix:\(socket)"))
        let src = cli.home.sub("src")
        FileManager.default.createFile(atPath: src + "/hello.txt", contents: Data("hello from serve\n".utf8))
        let put = try cli.run(["cas", "put", src, "--remote", "unix:\(socket)", "--cache-dir", cli.home.sub("c1")])
        #expect(put.status == 0, "\(put.stderr)")
        let root = put.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let cat = try cli.run(["cas", "cat", root, "hello.txt", "--remote", serve.tcp, "--cache-dir", cli.home.sub("c2")])
        #expect(cat.stdout == "hello from serve\n", "\(cat.stderr)")
        let log = serve.stop()
        #expect(serve.exitStatus == 0, "\(log)")
        let stats = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cli.home.path + "/stats.json"))) as? [String: Any]
        #expect(stats?["FindMissingBlobs"] != nil, "the stats file counts the put's calls")
    }

    @Test(arguments: [["--listen", "ftp://x:1"], ["--listen", "grpcs://127.0.0.1:1"], ["--jobs", "0"]])
    func badServeFlagsAreUserErrors(_ arguments: [String]) throws {
        let r = try cli.run(["serve", "--storage", cli.home.sub("s")] + arguments)
        #expect(r.status == 1)
        #expect(!r.stderr.isEmpty)
    }
}

/// The number of entries in an ELF64 little-endian file's `.dynsym` section (`SHT_DYNSYM`), read
/// from its section headers; nil if it has none or is not such a file.
private func dynamicSymbolCount(ofELF file: Data) -> Int? {
    func integer(at offset: Int, size: Int) -> Int? {
        guard offset >= 0, offset + size <= file.count else { return nil }
        return (0..<size).reversed().reduce(0) { $0 << 8 | Int(file[file.startIndex + offset + $1]) }
    }
    guard file.starts(with: [0x7F, 0x45, 0x4C, 0x46, 2, 1]),
          let table = integer(at: 0x28, size: 8), let entrySize = integer(at: 0x3A, size: 2),
          let count = integer(at: 0x3C, size: 2) else { return nil }
    for index in 0..<count {
        let header = table + index * entrySize
        guard integer(at: header + 4, size: 4) == 11 else { continue }
        guard let size = integer(at: header + 0x20, size: 8), let symbolSize = integer(at: header + 0x38, size: 8),
              symbolSize > 0 else { return nil }
        return size / symbolSize
    }
    return nil
}
