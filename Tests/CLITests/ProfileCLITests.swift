import Foundation
import LocalCAS
import RemoteCAS
import TestSupport
import Testing

/// Access profiles through the CLI: `lazycas shell` on a ref records what the command read; the
/// next shell on a new version of the ref has those files before it asks; `--no-profile` turns
/// both off. And profiles shared through `lazycas serve`'s Remote Asset service.
@Suite(.enabled(if: TestEnvironment.fuseTestsEnabled), .serialized)
struct ProfileCLITests {
    let cli = CLI()

    /// A tree of busybox and 10 directories of 40 files whose contents name `version`; `without`
    /// left out. Returns its digest, uploaded.
    func put(version: Int, without: Set<String> = [], url: String) async throws -> String {
        let root = cli.home.sub("v\(version)")
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: root + "/bin/busybox")
        try FileManager.default.createSymbolicLink(atPath: root + "/bin/sh", withDestinationPath: "busybox")
        for d in 0..<10 {
            try FileManager.default.createDirectory(atPath: "\(root)/d\(d)", withIntermediateDirectories: true)
            for f in 0..<40 where !without.contains("d\(d)/f\(f)") {
                try Data("version \(version) of d\(d)/f\(f)\n".utf8).write(to: URL(fileURLWithPath: "\(root)/d\(d)/f\(f)"))
            }
        }
        let cli = self.cli
        let put = try await offPool { try cli.run(["cas", "put", root, "--remote", url, "--cache-dir", cli.home.sub("uploader")]) }
        #expect(put.status == 0, "\(put.stderr)")
        return put.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func aShellOnTheNextVersionOfARefHasWhatTheLastOneReadBeforeItAsks() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let (cli, url, cache) = (self.cli, server.url, cli.home.sub("user"))
        let command = ["--", "/bin/sh", "-c", "cat /d4/f7 /d0/f1 /d9/f39"]
        func shell(_ extra: [String] = []) async throws -> CLI.Result {
            try await offPool { try cli.run(["shell", "app", "--read-ahead", "off", "--remote", url, "--cache-dir", cache] + extra + command) }
        }
        #expect(try cli.run(["ref", "set", "app", try await put(version: 1, url: url), "--cache-dir", cache]).status == 0)
        let first = try await shell()
        #expect(first.status == 0 && first.stdout == "version 1 of d4/f7\nversion 1 of d0/f1\nversion 1 of d9/f39\n", "\(first.stderr)")
        #expect(!first.stderr.contains("profile:"), "no profile yet: \(first.stderr)")
        #expect(try cli.run(["cas", "stats", "--cache-dir", cache]).stdout.contains("access profiles: 1 kept"))

        // (--read-ahead off throughout: only the files read are fetched, so the counts are exact.)
        // A new version: every file changed, d0/f1 gone. The two files still there come ahead.
        #expect(try cli.run(["ref", "set", "app", try await put(version: 2, without: ["d0/f1"], url: url), "--cache-dir", cache]).status == 0)
        let second = try await offPool {
            try cli.run(["shell", "app", "--read-ahead", "off", "--remote", url, "--cache-dir", cache, "--", "/bin/sh", "-c", "cat /d4/f7 /d9/f39"])
        }
        #expect(second.status == 0 && second.stdout == "version 2 of d4/f7\nversion 2 of d9/f39\n", "\(second.stderr)")
        let bytes = Int64("version 2 of d4/f7\nversion 2 of d9/f39\n".utf8.count)
        #expect(second.stderr.contains("fetched 2 of 400 files, \(formatBytes(bytes)) of"), "\(second.stderr)")
        #expect(second.stderr.contains("profile: prefetched 2 blobs (\(formatBytes(bytes))), 2 used, 0 unused (0 B wasted)"), "\(second.stderr)")

        // --no-profile: nothing prefetched, the profile left as it was.
        let profiles = cache + "/profiles"
        let kept = try FileManager.default.contentsOfDirectory(atPath: profiles).map { try Data(contentsOf: URL(fileURLWithPath: profiles + "/" + $0)) }
        #expect(try cli.run(["ref", "set", "app", try await put(version: 3, url: url), "--cache-dir", cache]).status == 0)
        let off = try await shell(["--no-profile"])
        #expect(off.status == 0 && !off.stderr.contains("profile:"), "\(off.stderr)")
        #expect(off.stderr.contains("fetched 3 of 401 files"), "\(off.stderr)")
        let after = try FileManager.default.contentsOfDirectory(atPath: profiles).map { try Data(contentsOf: URL(fileURLWithPath: profiles + "/" + $0)) }
        #expect(after == kept)

        // The config file's `profiles: false` is --no-profile for every command; a bad budget
        // there is an error naming it.
        let config = cli.home.path + "/lazycas.yaml"
        try "profiles: false\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try cli.run(["ref", "set", "app", try await put(version: 4, url: url), "--cache-dir", cache]).status == 0)
        let configured = try await shell(["--config", config])
        #expect(configured.status == 0 && !configured.stderr.contains("profile:"), "\(configured.stderr)")
        #expect(configured.stderr.contains("fetched 3 of 401 files"), "\(configured.stderr)")
        try "prefetch-budget: lots\n".write(toFile: config, atomically: true, encoding: .utf8)
        let badConfig = try await shell(["--config", config])
        #expect(badConfig.status != 0 && badConfig.stderr.contains("prefetch-budget 'lots' in the config file is not a size"), "\(badConfig.stderr)")

        let bad = try cli.run(["shell", "app", "--prefetch-budget", "lots", "--", "/bin/true"])
        #expect(bad.status != 0 && bad.stderr.contains("--prefetch-budget 'lots' is not a size"), "\(bad.stderr)")
    }

    /// `lazycas serve` has the Remote Asset API: a profile is a blob named by a URI there.
    @Test func profilesAreSharedThroughTheRemoteAssetServiceWhereThereIsOne() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let configuration = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: server.url))
        let profile = AccessProfile().merged(with: ["usr/bin/cc", "usr/include/stdio.h"])
        try await RemoteConnection.with(configuration) { connection in
            let exchange = ProfileExchange(connection: connection)
            #expect(try await exchange.fetch("action:x") == nil)
            try await exchange.publish(profile, as: "action:x")
            #expect(try await exchange.fetch("action:x") == profile)
            #expect(try await ProfileExchange(connection: connection).fetch("action:y") == nil)
            let calls = connection.metrics.snapshot
            #expect(calls["PushBlob"] == 1 && calls["FetchBlob"] == 3 && calls["UpdateActionResult"] == 0 && calls["GetActionResult"] == 0)
        }
    }
}
