import Foundation
import LocalCAS
import TestSupport
import Testing

/// `lazycas shell` on the examples project: bubblewrap on a lazy mount with a writable layer.
@Suite(.enabled(if: TestEnvironment.fuseTestsEnabled), .serialized)
struct ShellCLITests {
    let cli = CLI()

    @Test func shellRunsOnTheLazyClosureFetchesWhatItReadsAndCaptures() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let project = try cli.examples()
        let cli = self.cli, url = server.url
        func shell(_ arguments: [String]) async throws -> CLI.Result {
            try await offPool { try cli.run(["shell"] + arguments.prefix(while: { $0 != "--" }) + ["--remote", url] + arguments.drop(while: { $0 != "--" }), in: project) }
        }
        let build = try await offPool { try cli.run(["build", "world.bst", "--remote", url], in: project) }
        #expect(build.status == 0, "\(build.stderr)")

        // One command: the right files, and only the blob it read was fetched (busybox is
        // local: base.bst is an import of local files).
        let version = try await shell(["hello.bst", "--", "hello", "--version"])
        #expect(version.status == 0, "\(version.stderr)")
        #expect(version.stdout == "hello 1.0\n")
        #expect(version.stderr.contains("fetched 1 of 2 files, 176 B of"), "\(version.stderr)")

        // Its exit status is lazycas's.
        #expect(try await shell(["world.bst", "--", "sh", "-c", "exit 7"]).status == 7)

        // The sandbox sees the tree and what bwrap mounts, no host path unless bound.
        #expect(try await shell(["world.bst", "--", "ls", "/"]).stdout == "bin\ndev\nproc\ntmp\nusr\n")
        #expect(try await shell(["world.bst", "--", "test", "-e", project]).status == 1)
        #expect(try await shell(["world.bst", "--bind", "\(project):/project", "--", "test", "-e", "/project/project.conf"]).status == 0)

        // Writes land in the overlay: the next session sees the tree unchanged.
        let store = try LocalContentStore(root: cli.cacheDir)
        let blobsBefore = store.allDigests().count
        #expect(try await shell(["world.bst", "--", "sh", "-c", "echo broken > /usr/bin/hello"]).status == 0)
        #expect(try await shell(["world.bst", "--", "hello", "--version"]).stdout == "hello 1.0\n")
        // (The modified session fetched /usr/bin/hello to copy it up; nothing else was stored.)
        #expect(store.allDigests().count <= blobsBefore + 1)

        // --capture: unchanged, it is the closure itself; changed, it equals importing the same
        // changes made to a checkout of that closure.
        let unchanged = try await shell(["world.bst", "--capture", "--", "true"])
        let closure = unchanged.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try Digest(parsing: closure)
        // What bwrap creates for a bind (the mountpoint and its parents) is not part of the tree.
        let bound = try await shell(["world.bst", "--capture", "--bind", "\(project):/mnt/project", "--", "true"])
        #expect(bound.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == closure, "\(bound.stderr)")
        let changes = "rm /bin/ls; echo motd > /motd; mkdir -p /usr/new; echo n > /usr/new/f; chmod +x /usr/new/f"
        let changed = try await shell(["world.bst", "--capture", "--ref", "mine", "--", "sh", "-c", changes])
        #expect(changed.status == 0, "\(changed.stderr)")
        let captured = changed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let out = cli.home.path + "/expected"
        #expect(try await offPool { try cli.run(["checkout", closure, out, "--remote", url]) }.status == 0)
        try FileManager.default.removeItem(atPath: out + "/bin/ls")
        try "motd\n".write(toFile: out + "/motd", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: out + "/usr/new", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: out + "/usr/new/f", contents: Data("n\n".utf8), attributes: [.posixPermissions: 0o755])
        let expected = try TreeImporter(store: try LocalContentStore(root: cli.home.sub("scratch")), storeFiles: false).importDirectory(at: out).root
        #expect(captured == expected.description)
        #expect(try cli.run(["ref", "get", "mine"]).stdout == captured + "\n")
    }

    /// A tree whose every blob is local needs no remote: none is configured, and the shell runs.
    @Test func aTreeThatIsAllLocalNeedsNoRemote() async throws {
        let root = cli.home.sub("root")
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: root + "/bin/busybox")
        try FileManager.default.createSymbolicLink(atPath: root + "/bin/sh", withDestinationPath: "busybox")
        let cli = self.cli
        let put = try cli.run(["cas", "put", root])
        #expect(put.status == 0, "\(put.stderr)")
        let digest = put.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let inside = try await offPool { try cli.run(["shell", digest, "--", "/bin/sh", "-c", "echo inside"]) }
        #expect(inside.status == 0, "\(inside.stderr)")
        #expect(inside.stdout == "inside\n")
        #expect(inside.stderr.contains("fetched 0 of 1 files"), "\(inside.stderr)")
    }

    /// One read in a directory of 1,000 cold files fetches one file under the shell's default
    /// (`cautious`) read-ahead; `--read-ahead eager` brings siblings along from the first read.
    @Test func oneReadFetchesOneFileUntilAScanShows() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let root = cli.home.sub("wide")
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: root + "/bin/busybox")
        try FileManager.default.createSymbolicLink(atPath: root + "/bin/sh", withDestinationPath: "busybox")
        for i in 0..<1000 {
            var bytes = Data(count: 16 << 10)
            bytes.withUnsafeMutableBytes { p in for j in stride(from: 0, to: p.count, by: 8) { p.storeBytes(of: UInt64(i * 1_000_003 + j), toByteOffset: j, as: UInt64.self) } }
            try bytes.write(to: URL(fileURLWithPath: root + "/data/f\(i)"))
        }
        let cli = self.cli, url = server.url
        let put = try await offPool { try cli.run(["cas", "put", root, "--remote", url, "--cache-dir", cli.home.sub("uploader")]) }
        #expect(put.status == 0, "\(put.stderr)")
        let digest = put.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let busybox = try FileManager.default.attributesOfItem(atPath: "/bin/busybox")[.size] as! Int

        let cautious = try await offPool {
            try cli.run(["shell", digest, "--remote", url, "--cache-dir", cli.home.sub("cautious"), "--", "/bin/sh", "-c", "cat /data/f500 | wc -c"])
        }
        #expect(cautious.status == 0, "\(cautious.stderr)")
        #expect(cautious.stdout.trimmingCharacters(in: .whitespaces) == "16384\n")
        // busybox and the one file read.
        #expect(cautious.stderr.contains("fetched 2 of 1001 files, \(formatBytes(Int64(busybox + 16384))) of"), "\(cautious.stderr)")

        let eager = try await offPool {
            try cli.run(["shell", digest, "--read-ahead", "eager", "--remote", url, "--cache-dir", cli.home.sub("eager"), "--", "/bin/sh", "-c", "cat /data/f500 | wc -c"])
        }
        #expect(eager.status == 0, "\(eager.stderr)")
        let fetched = eager.stderr.firstMatch(of: /fetched (\d+) of 1001 files/).flatMap { Int($0.1) } ?? 0
        #expect(fetched > 2, "eager read-ahead brings siblings along: \(eager.stderr)")

        let wrong = try cli.run(["shell", digest, "--read-ahead", "sometimes", "--", "/bin/true"])
        #expect(wrong.status == 1 && wrong.stderr.contains("cautious"), "\(wrong.stderr)")
    }
}
