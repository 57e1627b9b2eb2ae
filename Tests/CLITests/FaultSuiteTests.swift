import Foundation
import Glibc
import LocalCAS
import Mount
import TestSupport
import Testing

/// Faults a user meets, each with the real binary against a real buildbox-casd: processes
/// killed, a full disk, processes sharing a cache. Each ends with the cache verified: every
/// stored blob matches its digest.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled && TestEnvironment.fuseTestsEnabled), .serialized)
struct FaultSuiteTests {
    let cli = CLI()

    /// Uploads a tree (`files` small files, `hello.txt`, and `large` bytes at `large.bin`) to
    /// `casd`; returns its root digest and the directory it was made from.
    private func upload(_ casd: BuildboxCASD, files: Int = 20, large: Int = 0) throws -> (root: String, source: String) {
        var fixture = TreeFixture(root: cli.home.sub("src-\(UUID().uuidString.prefix(8))"))
        fixture.populate(files: files)
        fixture.write("hello.txt", Data("hello, faults\n".utf8))
        if large > 0 { _ = fixture.file("large.bin", size: large) }
        let put = try cli.run(["cas", "put", fixture.root, "--remote", casd.url, "--cache-dir", cli.home.sub("uploader")])
        #expect(put.status == 0, "\(put.stderr)")
        return (put.stdout.trimmingCharacters(in: .newlines), fixture.root)
    }

    /// `lazycas mount --foreground`, waited for until mounted.
    private func mountInForeground(_ root: String, at mnt: String, remote: String, cache: String,
                                   extra: [String] = [], log: String? = nil) async throws -> MountProcess {
        let mount = try MountProcess(["mount", root, mnt, "--foreground", "--remote", remote, "--cache-dir", cache] + extra,
                                     at: mnt, log: log)
        for _ in 0..<400 where !Mountpoint.isMounted(mnt) { try await Task.sleep(for: .milliseconds(25)) }
        #expect(Mountpoint.isMounted(mnt), "mounted at \(mnt)")
        return mount
    }

    /// Reads the whole file with read(2): 0, or the errno of the call that failed.
    private static func readAll(_ path: String) -> Int32 {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n == 0 { return 0 }
            if n < 0 { return errno }
        }
    }

    private func expectConsistent(_ cache: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let bad = try inconsistentBlobs(inCache: cache)
        #expect(bad.isEmpty, "blobs that do not match their digest: \(bad)", sourceLocation: sourceLocation)
    }

    @Test func aKilledMountIsMountedAgainAtTheSamePoint() async throws {
        let casd = try await BuildboxCASD()
        let (root, _) = try upload(casd)
        let mnt = cli.home.sub("mnt"), cache = cli.home.sub("cache")
        let first = try await mountInForeground(root, at: mnt, remote: casd.url, cache: cache)
        #expect(try await offPool { try String(contentsOfFile: mnt + "/hello.txt", encoding: .utf8) } == "hello, faults\n")
        kill(first.pid, SIGKILL)
        first.waitUntilExit()
        // The kernel still lists the dead mount ("Transport endpoint is not connected").
        #expect(mounts(under: mnt) == [mnt])

        let again = try cli.run(["mount", root, mnt, "--remote", casd.url, "--cache-dir", cache])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try await offPool { try String(contentsOfFile: mnt + "/hello.txt", encoding: .utf8) } == "hello, faults\n")
        #expect(try cli.run(["umount", mnt]).status == 0)
        try await Task.sleep(for: .milliseconds(300))
        #expect(mounts(under: mnt).isEmpty)
        try expectConsistent(cache)
    }

    @Test func aKilledShellLeavesNoMountForTheNextRun() async throws {
        let src = cli.home.sub("root")
        try FileManager.default.createDirectory(atPath: src + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: src + "/bin/busybox")
        for applet in ["sh", "sleep", "echo"] {
            try FileManager.default.createSymbolicLink(atPath: src + "/bin/" + applet, withDestinationPath: "busybox")
        }
        let cache = cli.home.sub("cache")
        let put = try cli.run(["cas", "put", src, "--cache-dir", cache])
        let digest = put.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let shells = cache + "/shells"

        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.lazycasBinary)
        process.arguments = ["shell", digest, "--cache-dir", cache, "--", "/bin/sleep", "30"]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        for _ in 0..<400 where mounts(under: shells).count < 2 { try await Task.sleep(for: .milliseconds(25)) }
        #expect(mounts(under: shells).count >= 2, "the shell's FUSE mount and overlay are up")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(!mounts(under: shells).isEmpty, "SIGKILL left the mounts behind")

        let next = try await offPool { try cli.run(["shell", digest, "--cache-dir", cache, "--", "/bin/echo", "again"]) }
        #expect(next.status == 0, "\(next.stderr)")
        #expect(next.stdout == "again\n")
        #expect(mounts(under: shells).isEmpty, "the next shell reclaimed what the killed one left: \(mounts(under: shells))")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: shells)) ?? []).isEmpty)
        try expectConsistent(cache)
    }

    @Test func twoProcessesSharingOneCacheFetchTheSameBlobsAtOnce() async throws {
        let casd = try await BuildboxCASD()
        let (root, _) = try upload(casd, files: 300, large: 3_000_000)
        let cache = cli.home.sub("shared")
        let cli = self.cli
        let results = try await withThrowingTaskGroup(of: CLI.Result.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    try await offPool {
                        try cli.run(["cas", "get-tree", root, "--files", "--remote", casd.url, "--cache-dir", cache])
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for result in results { #expect(result.status == 0, "\(result.stderr)") }
        try expectConsistent(cache)
        // Both left the whole tree: listing and reading need no remote now.
        let cat = try cli.run(["cas", "cat", root, "large.bin", "--cache-dir", cache])
        #expect(cat.status == 0 && !cat.stdout.isEmpty, "\(cat.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cache + "/tmp")) ?? []).isEmpty, "no temp file left")
    }

    @Test func sixtyFourReadersOfOneColdFileInFourProcessesFetchItAtMostOncePerProcess() async throws {
        let casd = try await BuildboxCASD()
        let (root, _) = try upload(casd, files: 4, large: 2_000_000)
        let cache = cli.home.sub("shared")
        var processes: [(MountProcess, String)] = []
        for i in 0..<4 {
            let mnt = cli.home.sub("mnt\(i)")
            processes.append((try await mountInForeground(root, at: mnt, remote: casd.url, cache: cache), mnt))
        }
        let reads = try await withThrowingTaskGroup(of: Data.self) { group in
            for i in 0..<64 {
                let path = processes[i % 4].1 + "/large.bin"
                group.addTask { try await offPool { try Data(contentsOf: URL(fileURLWithPath: path)) } }
            }
            return try await group.reduce(into: [Data]()) { $0.append($1) }
        }
        #expect(reads.count == 64)
        #expect(Set(reads).count == 1 && reads[0].count == 2_000_000, "every reader saw the same 2,000,000 bytes")
        // Each process's own count of what it fetched (its stats file, rewritten 4 times a second).
        try await Task.sleep(for: .milliseconds(600))
        var fetched: [Int] = []
        for (process, _) in processes {
            let stats = try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: cache + "/mounts/\(process.pid).json"))) as? [String: Any]
            fetched.append(stats?["blobsFetched"] as? Int ?? -1)
        }
        #expect(fetched.allSatisfy { (0...1).contains($0) } && fetched.reduce(0, +) >= 1, "blobs fetched per process: \(fetched)")
        for (process, mnt) in processes {
            #expect(try cli.run(["umount", mnt]).status == 0)
            process.waitUntilExit()
        }
        try expectConsistent(cache)
    }

    @Test func aFullCacheDiskIsEIOWithNothingHalfWrittenAndTheMountStaysUp() async throws {
        let casd = try await BuildboxCASD()
        let (root, _) = try upload(casd, files: 10, large: 12_000_000)
        // A cache on an 8 MiB tmpfs: the Directory nodes and small files fit, the large file not.
        let cache = cli.home.sub("small-disk")
        let mounted = try runTool(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", cache])
        try #require(mounted.status == 0, "\(mounted.output)")
        defer { _ = try? runTool(["umount", "-l", cache]) }
        let mnt = cli.home.sub("mnt")
        let process = try await mountInForeground(root, at: mnt, remote: casd.url, cache: cache)
        let large = try await offPool { Self.readAll(mnt + "/large.bin") }
        #expect(large == EIO, "reading a file the cache has no room for fails with EIO (errno \(large))")
        #expect(process.isRunning, "the mount process did not crash")
        #expect(Mountpoint.isMounted(mnt))
        #expect(try await offPool { try String(contentsOfFile: mnt + "/hello.txt", encoding: .utf8) } == "hello, faults\n",
                "small files still read")
        #expect(try await offPool { try FileManager.default.contentsOfDirectory(atPath: mnt) }.contains("large.bin"))
        try expectConsistent(cache)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cache + "/tmp")) ?? []).isEmpty, "no partial blob left in tmp/")
        #expect(try cli.run(["umount", mnt]).status == 0)
        process.waitUntilExit()
    }

    @Test func aRemoteKilledMidStreamIsEIOWithinTheDeadlineAndTheNextReadWorks() async throws {
        let casd = try await BuildboxCASD()
        let size = 50 << 20
        let (root, source) = try upload(casd, files: 2, large: size)
        // A proxy that holds every call for a while keeps the 50 MiB transfer going long enough
        // to kill the server in its middle.
        let proxy = try await FaultInjectingProxy(upstreamPort: casd.port)
        proxy.setFaults { $0.delay = .milliseconds(400) }
        let mnt = cli.home.sub("mnt"), cache = cli.home.sub("cache")
        let process = try await mountInForeground(root, at: mnt, remote: proxy.url, cache: cache, extra: ["--timeout", "3"])
        let started = ContinuousClock.now
        let reader = Task { try await offPool { Self.readAll(mnt + "/large.bin") } }
        try await Task.sleep(for: .milliseconds(700))
        casd.kill()
        let failure = try await reader.value
        let elapsed = ContinuousClock.now - started
        #expect(failure == EIO, "a read whose server died fails with EIO (errno \(failure))")
        // The deadline is 3 s per call, retries included, with room for a loaded machine.
        #expect(elapsed < .seconds(30), "EIO came after \(elapsed)")
        #expect(process.isRunning && Mountpoint.isMounted(mnt))

        try await casd.restart()
        proxy.setFaults { $0.delay = .zero }
        // The proxy reconnects to the restarted server within its backoff (at most 0.5 s).
        try await Task.sleep(for: .seconds(1))
        let whole = try await offPool { try Data(contentsOf: URL(fileURLWithPath: mnt + "/large.bin")) }
        #expect(whole == (try Data(contentsOf: URL(fileURLWithPath: source + "/large.bin"))), "the next read succeeds")
        #expect(try cli.run(["umount", mnt]).status == 0)
        process.waitUntilExit()
        try expectConsistent(cache)
        await proxy.stop()
    }

    @Test func aCorruptingRemoteIsEIONothingStoredAndOneLogLineNamingPathAndDigest() async throws {
        let casd = try await BuildboxCASD()
        let (root, _) = try upload(casd)
        let proxy = try await FaultInjectingProxy(upstreamPort: casd.port)
        proxy.setFaults { $0.corruptReads = true }
        let mnt = cli.home.sub("mnt"), cache = cli.home.sub("cache")
        let log = cli.home.path + "/mount.log"
        let process = try await mountInForeground(root, at: mnt, remote: proxy.url, cache: cache, extra: ["--read-ahead", "off"], log: log)
        #expect(try await offPool { Self.readAll(mnt + "/hello.txt") } == EIO)
        let digest = Digest(data: Data("hello, faults\n".utf8))
        #expect(!(try LocalContentStore(root: cache).contains(digest)), "a corrupt blob is not stored")
        try await Task.sleep(for: .milliseconds(300))
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter { $0.contains(digest.description) }
        #expect(lines.count == 1 && lines[0].contains("/hello.txt"), "one log line naming the path and the digest: \(lines)")
        proxy.setFaults { $0.corruptReads = false }
        #expect(try await offPool { try String(contentsOfFile: mnt + "/hello.txt", encoding: .utf8) } == "hello, faults\n")
        #expect(try cli.run(["umount", mnt]).status == 0)
        process.waitUntilExit()
        try expectConsistent(cache)
        await proxy.stop()
    }
}
