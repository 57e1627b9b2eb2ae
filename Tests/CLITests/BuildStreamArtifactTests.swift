import Foundation
import LocalCAS
import Mount
import TestSupport
import Testing

/// `bst:` trees: what BuildStream 2.8.1 built with `storage-service` (its content left on the
/// server), mounted, entered, listed and checked out by lazycas without downloading it first.
@Suite(.enabled(if: TestEnvironment.buildStreamTestsEnabled && TestEnvironment.casdTestsEnabled && TestEnvironment.fuseTestsEnabled),
       .serialized)
struct BuildStreamArtifactTests {
    let cli = CLI()

    /// A BuildStream user configuration: its own cache, `storage-service`, remote execution and
    /// (pushing) artifact server all on `url`, and `cache-buildtrees`.
    func writeConfig(_ name: String, cache: String, url: String?, artifactServer: String?, buildTrees: String = "auto") throws -> String {
        let path = cli.home.path + "/" + name
        var text = "cachedir: \(cache)\nlogdir: \(cache)-logs\nsourcedir: \(cli.home.path)/bst-sources\n"
        text += "cache:\n  cache-buildtrees: \(buildTrees)\n"
        if let url {
            text += "  storage-service: {url: \"\(url)\"}\n"
            text += "remote-execution:\n  execution-service: {url: \"\(url)\"}\n  action-cache-service: {url: \"\(url)\"}\n"
        }
        if let artifactServer { text += "artifacts:\n  servers:\n  - {url: \"\(artifactServer)\", push: true}\n" }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func bst(_ arguments: [String], config: String, project: String) async throws -> (Int32, String) {
        let work = TemporaryDirectory("bst-run")
        return try await offPool { try runBuildStream(["--config", config, "--directory", project] + arguments, work: work) }
    }

    func lazycas(_ arguments: [String], config: String, project: String, cache: String) async throws -> CLI.Result {
        let cli = self.cli
        let bstArguments = ["--bst", TestEnvironment.bstPath, "--bst-config", config, "--cache-dir", cache]
        let split = arguments.firstIndex(of: "--") ?? arguments.endIndex
        return try await offPool { try cli.run(Array(arguments[..<split]) + bstArguments + arguments[split...], in: project) }
    }

    /// Every path under `root` with what it is: a file's SHA-256 and executable bit, a
    /// symlink's target, or `dir`. Reading a mount this way reads every file.
    static func listing(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: root)
        while let path = enumerator?.nextObject() as? String {
            let full = root + "/" + path
            var st = stat()
            guard lstat(full, &st) == 0 else { throw TestSupportError("cannot stat \(full)") }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: result[path] = "dir"
            case S_IFLNK: result[path] = "-> " + (try FileManager.default.destinationOfSymbolicLink(atPath: full))
            default:
                let data = try Data(contentsOf: URL(fileURLWithPath: full))
                result[path] = Digest(data: data).hash + (st.st_mode & 0o100 != 0 ? " x" : "")
            }
        }
        return result
    }

    /// File blobs of `root` (in `store`, Directory nodes local) that `store` holds.
    static func heldFiles(_ root: Digest, _ store: LocalContentStore) throws -> (held: Int, total: Int) {
        let files = try LocalTree(store: store).digests(under: root).files.filter { $0.sizeBytes > 0 }
        return (files.count - store.missing(files).count, files.count)
    }

    @Test(arguments: [ServerKind.lazycasServe, .buildboxCASD])
    func whatBstBuiltRemotelyIsMountedEnteredAndFoundOnItsArtifactServer(kind: ServerKind) async throws {
        let server = try await TestServer.start(kind, execution: true)
        defer { Task { await server.stop() } }
        let url = "http://127.0.0.1:\(server.port)"
        let project = try cli.examples()
        let config = try writeConfig("bst.conf", cache: cli.home.sub("bst-cache"), url: url, artifactServer: url)
        let (status, log) = try await bst(["build", "world.bst"], config: config, project: project)
        #expect(status == 0, "bst build failed:\n\(log.suffix(3000))")
        guard status == 0 else { return }

        // Each element, mounted from the storage service: the same bytes bst checks out.
        let cache = cli.home.sub("lazycas-cache")
        for element in ["base.bst", "hello.bst", "greetings.bst", "docs.bst", "world.bst"] {
            let out = cli.home.path + "/checkout-" + element
            let (code, text) = try await bst(["artifact", "checkout", "--deps", "none", element, "--directory", out], config: config, project: project)
            #expect(code == 0, "bst checkout \(element):\n\(text.suffix(2000))")
            let mnt = cli.home.sub("mnt-" + element)
            let mount = try await lazycas(["mount", "bst:" + element, mnt], config: config, project: project, cache: cache)
            #expect(mount.status == 0, "\(element): \(mount.stderr)")
            guard mount.status == 0 else { continue }
            let (ours, theirs) = (try Self.listing(mnt), try Self.listing(out))
            #expect(ours == theirs, "\(element): the mount differs from bst's checkout at \(Set(ours.keys).symmetricDifference(theirs.keys).sorted().prefix(5))")
            #expect(try cli.run(["umount", mnt]).status == 0)
        }

        // Only what is read is fetched: one greeting of 200 on a fresh cache.
        let fresh = cli.home.sub("fresh-cache")
        let mnt = cli.home.sub("mnt-one")
        let mount = try await lazycas(["mount", "bst:greetings.bst", mnt, "--read-ahead", "off"], config: config, project: project, cache: fresh)
        #expect(mount.status == 0, "\(mount.stderr)")
        #expect(try String(contentsOfFile: mnt + "/usr/share/greetings/greeting-7.txt", encoding: .utf8) == "Hello, reader 7!\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: mnt + "/usr/share/greetings").count == 200)
        #expect(try cli.run(["umount", mnt]).status == 0)
        try await Task.sleep(for: .milliseconds(300))
        let ls = try await lazycas(["cas", "ls", "bst:greetings.bst:usr/share/greetings"], config: config, project: project, cache: fresh)
        #expect(ls.stdout.split(separator: "\n").count == 200, "\(ls.stderr)")
        let getTree = try await lazycas(["cas", "get-tree", "bst:greetings.bst"], config: config, project: project, cache: fresh)
        let greetingsRoot = try Digest(parsing: getTree.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let store = try LocalContentStore(root: fresh)
        let held = try Self.heldFiles(greetingsRoot, store)
        #expect(held == (1, 200), "the lazycas cache holds \(held.held) of \(held.total) greeting blobs after one was read")

        // A command in the element's runtime closure (base's busybox + hello), nothing fetched up front.
        let shell = try await lazycas(["shell", "bst:hello.bst", "--", "hello", "there"], config: config, project: project, cache: cli.home.sub("shell-cache"))
        #expect(shell.status == 0, "\(shell.stderr)")
        #expect(shell.stdout == "Hello, there!\n")
        #expect(shell.stderr.contains("fetched 2 of"), "hello and busybox (sh) are what it read: \(shell.stderr)")
        let env = try await lazycas(["shell", "bst:hello.bst", "--", "sh", "-c", "echo $GREETING $PS1"], config: config, project: project, cache: cli.home.sub("shell-cache"))
        #expect(env.stdout.hasPrefix("Hello ["), "the element's environment and bst's prompt: \(env.stdout) \(env.stderr)")

        // The build log bst recorded.
        let buildLog = try await lazycas(["artifact", "log", "bst:hello.bst"], config: config, project: project, cache: cli.home.sub("shell-cache"))
        #expect(buildLog.status == 0, "\(buildLog.stderr)")
        #expect(buildLog.stdout.contains("hello.bst"), "\(buildLog.stdout.suffix(500))")

        // A checkout equals bst's, as a tar too.
        let checkout = cli.home.path + "/lazycas-checkout"
        let co = try await lazycas(["checkout", "bst:greetings.bst", checkout], config: config, project: project, cache: cli.home.sub("checkout-cache"))
        #expect(co.status == 0, "\(co.stderr)")
        #expect(try Self.listing(checkout) == Self.listing(cli.home.path + "/checkout-greetings.bst"))

        let key = try #require(try Self.key(of: "hello.bst", config: config, project: project))

        // An empty BuildStream cache that knows only the artifact server: found there (Remote
        // Asset FetchBlob with BuildStream's URN), mounted lazily.
        let pullConfig = try writeConfig("pull.conf", cache: cli.home.sub("bst-empty-cache"), url: nil, artifactServer: url)
        let pulled = cli.home.sub("mnt-pulled")
        let viaServer = try await lazycas(["mount", "bst:greetings.bst", pulled], config: pullConfig, project: project, cache: cli.home.sub("pull-cache"))
        #expect(viaServer.status == 0, "\(viaServer.stderr)")
        if viaServer.status == 0 {
            #expect(try Self.listing(pulled) == Self.listing(cli.home.path + "/checkout-greetings.bst"))
            #expect(try cli.run(["umount", pulled]).status == 0)
        }
        let named = try await lazycas(["shell", "bst:hello.bst", "--", "hello"], config: pullConfig, project: project, cache: cli.home.sub("pull-cache"))
        #expect(named.stdout == "Hello, world!\n", "\(named.stderr)")
        #expect(FileManager.default.subpaths(atPath: cli.home.path + "/bst-empty-cache/artifacts/refs")?.filter { $0.hasSuffix(key) }.isEmpty ?? true,
                "no artifact was pulled into BuildStream's cache")

        // By artifact name, from anywhere (no project): bst:PROJECT/ELEMENT/KEY, `hello.bst` spelling too.
        for spelling in ["hello/hello/\(key)", "hello/hello.bst/\(key)"] {
            let elsewhere = try await offPool { [cli] in
                try cli.run(["cas", "cat", "bst:\(spelling)", "usr/bin/hello", "--bst-config", pullConfig, "--cache-dir", cli.home.sub("anywhere")], in: "/")
            }
            #expect(elsewhere.status == 0 && elsewhere.stdout.contains("Hello"), "\(spelling): \(elsewhere.stderr)")
        }
        let listed = try await offPool { [cli] in
            try cli.run(["cas", "ls", "bst:hello/hello/\(key):usr/bin", "--bst-config", pullConfig, "--cache-dir", cli.home.sub("anywhere")], in: "/")
        }
        #expect(listed.stdout.hasSuffix(" hello\n"), "\(listed.stdout) \(listed.stderr)")
    }

    /// A failing element built with `cache-buildtrees: always`: its cached build sandbox is
    /// entered with `shell --build`, in its build directory, holding its sources and what the
    /// build left.
    @Test func aFailedRemoteBuildIsEnteredWithShellBuild() async throws {
        let server = try await TestServer.start(.lazycasServe, execution: true)
        defer { Task { await server.stop() } }
        let url = "http://127.0.0.1:\(server.port)"
        let project = try cli.examples()
        try """
            kind: manual
            depends:
            - base.bst
            sources:
            - kind: local
              path: files/hello
            config:
              build-commands:
              - echo half > half-built.txt
              - exit 3
            """.write(toFile: project + "/elements/broken.bst", atomically: true, encoding: .utf8)
        let config = try writeConfig("bst.conf", cache: cli.home.sub("bst-cache"), url: url, artifactServer: nil, buildTrees: "always")
        let (status, log) = try await bst(["build", "broken.bst"], config: config, project: project)
        #expect(status != 0, "broken.bst must fail:\n\(log.suffix(2000))")

        let shell = try await lazycas(["shell", "--build", "bst:broken.bst", "--", "sh", "-c", "pwd; ls; cat half-built.txt"],
                                      config: config, project: project, cache: cli.home.sub("cache"))
        #expect(shell.status == 0, "\(shell.stderr)")
        #expect(shell.stdout == "/buildstream/hello/broken.bst\nhalf-built.txt\nhello.sh.in\nhalf\n", "\(shell.stdout)\n\(shell.stderr)")
        #expect(shell.stderr.contains("this build failed"), "\(shell.stderr)")

        // A successful build without a cached build tree says how to get one.
        let plain = try writeConfig("plain.conf", cache: cli.home.sub("bst-cache-2"), url: url, artifactServer: nil)
        #expect(try await bst(["build", "hello.bst"], config: plain, project: project).0 == 0)
        let none = try await lazycas(["shell", "--build", "bst:hello.bst", "--", "true"], config: plain, project: project, cache: cli.home.sub("cache"))
        #expect(none.status != 0)
        #expect(none.stderr.contains("cache-buildtrees always"), "\(none.stderr)")
    }

    /// Errors name what is missing and how to get it.
    @Test func missingElementsArtifactsAndBuildTreesAreClearErrors() async throws {
        let project = try cli.examples()
        let config = try writeConfig("bst.conf", cache: cli.home.sub("bst-cache"), url: nil, artifactServer: nil)
        let cache = cli.home.sub("cache")
        let unknown = try await lazycas(["cas", "ls", "bst:nope.bst"], config: config, project: project, cache: cache)
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("nope.bst"), "\(unknown.stderr)")
        let unbuilt = try await lazycas(["mount", "bst:hello.bst", cli.home.sub("mnt")], config: config, project: project, cache: cache)
        #expect(unbuilt.status != 0)
        #expect(unbuilt.stderr.contains("is in no configured cache") && unbuilt.stderr.contains("bst build"), "\(unbuilt.stderr)")
        let outside = try await offPool { [cli] in try cli.run(["cas", "ls", "bst:hello.bst", "--bst-config", config, "--cache-dir", cache], in: "/") }
        #expect(outside.status != 0)
        #expect(outside.stderr.contains("-C DIR"), "\(outside.stderr)")
    }

    /// The key bst computes for `element` now.
    static func key(of element: String, config: String, project: String) throws -> String? {
        let result = try runTool([TestEnvironment.bstPath, "--no-interactive", "--config", config, "--directory", project,
                                  "show", "--deps", "none", "--format", "%{full-key}", element])
        return result.output.split(separator: "\n").map(String.init).last { $0.count == 64 }
    }
}
