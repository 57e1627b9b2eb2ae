import Foundation
import Glibc
import LocalCAS
import Mount
import TestSupport
import Testing

/// Self-healing after eviction: outputs of `lazycas build` deleted from the server's storage
/// (as an eviction does) are re-created when something reads them — by re-running the action
/// that made them, on the server it ran on — with the real binary, against both servers that
/// execute: `lazycas serve` and `buildbox-casd --buildbox-run`.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled && TestEnvironment.fuseTestsEnabled), .serialized)
struct HealingTests {
    let cli = CLI()

    static let gen = "generated text, healed on demand\n"
    static let other = "another output, only ever read as an input\n"
    static let more = "a third output, for a later build\n"
    static let bigSize = 40 * 65536

    /// The example project plus `gen.bst` (four outputs, one of 2.5 MiB), `use.bst` and
    /// `later.bst` (which read gen's outputs as inputs) and `noisy.bst` (random output).
    private func project() throws -> String {
        let project = try cli.examples()
        /// A manual element whose commands write into `%{install-root}/DIRECTORY`.
        func manual(_ dependencies: String, _ directory: String, _ commands: [String]) -> String {
            (["kind: manual", "depends: [\(dependencies)]", "config:", "  install-commands:",
              "  - mkdir -p %{install-root}/\(directory)"] + commands.map { "  - " + $0 }).joined(separator: "\n") + "\n"
        }
        let elements: [String: String] = [
            "gen.bst": manual("base.bst", "gen", [
                "printf '\(Self.gen.dropLast())\\n' > %{install-root}/gen/gen.txt",
                "printf '\(Self.other.dropLast())\\n' > %{install-root}/gen/other.txt",
                "printf '\(Self.more.dropLast())\\n' > %{install-root}/gen/more.txt",
                "dd if=/dev/zero bs=65536 count=40 2>/dev/null | tr '\\000' 'x' > %{install-root}/gen/big.bin",
            ]),
            "use.bst": manual("base.bst, gen.bst", "use", ["cat /gen/other.txt /gen/gen.txt > %{install-root}/use/use.txt"]),
            "later.bst": manual("base.bst, gen.bst", "later", ["cat /gen/more.txt > %{install-root}/later/later.txt"]),
            "noisy.bst": manual("base.bst", "noise", ["head -c 16 /dev/urandom | od -An -tx1 > %{install-root}/noise/noise.txt"]),
        ]
        for (name, text) in elements {
            try Data(text.utf8).write(to: URL(fileURLWithPath: "\(project)/elements/\(name)"))
        }
        return project
    }

    private func build(_ elements: [String], _ server: TestServer, in project: String) async throws -> CLI.Result {
        let cli = self.cli
        let result = try await offPool { try cli.run(["build"] + elements + ["--remote", server.url], in: project) }
        #expect(result.status == 0, "\(result.stderr)")
        return result
    }

    private static func digest(_ text: String) -> Digest { Digest(data: Data(text.utf8)) }

    private static func reruns(_ stderr: String) -> Int {
        stderr.components(separatedBy: "with skip_cache_lookup").count - 1
    }

    @Test(arguments: [ServerKind.lazycasServe, .buildboxCASD])
    func evictedOutputsAreMadeAgainWhereverTheyAreRead(_ kind: ServerKind) async throws {
        let server = try await TestServer.start(kind, execution: true)
        defer { Task { await server.stop() } }
        let project = try project()
        let cli = self.cli
        _ = try await build(["use.bst"], server, in: project)

        // `cas cat`: the blob was never local; the server lost it; the action runs again.
        try server.evict(Self.digest(Self.gen))
        let cat = try await offPool { try cli.run(["cas", "cat", "gen.bst", "gen/gen.txt", "--remote", server.url], in: project) }
        #expect(cat.status == 0, "\(cat.stderr)")
        #expect(cat.stdout == Self.gen)
        #expect(Self.reruns(cat.stderr) == 1, "\(cat.stderr)")
        #expect(cat.stderr.contains("healed hello/gen.bst/"), "\(cat.stderr)")
        #expect(server.holds(Self.digest(Self.gen)))

        // A mount: a large file (streamed by ranges) whose blob is gone; the reader waits.
        let big = Digest(data: Data(repeating: UInt8(ascii: "x"), count: Self.bigSize))
        try server.evict(big)
        let mnt = cli.home.sub("mnt")
        let mount = try await offPool { try cli.run(["mount", "gen.bst", mnt, "--remote", server.url], in: project) }
        #expect(mount.status == 0, "\(mount.stderr)")
        let read = try await offPool { try Data(contentsOf: URL(fileURLWithPath: mnt + "/gen/big.bin")) }
        #expect(read.count == Self.bigSize && read.allSatisfy { $0 == UInt8(ascii: "x") })
        #expect(try await offPool { try cli.run(["umount", mnt]) }.status == 0)
        #expect(server.holds(big))

        // A checkout of use.bst whose own output and one of its inputs (gen's, never local) are
        // gone: gen is healed first, then use.
        try server.evict(Self.digest(Self.other))
        try server.evict(Self.digest(Self.other + Self.gen))
        let out = cli.home.sub("out")
        let checkout = try await offPool { try cli.run(["checkout", "use.bst", out, "--remote", server.url], in: project) }
        #expect(checkout.status == 0, "\(checkout.stderr)")
        #expect(try String(contentsOfFile: out + "/use/use.txt", encoding: .utf8) == Self.other + Self.gen)
        #expect(Self.reruns(checkout.stderr) == 2, "\(checkout.stderr)")

        // A later build whose input (gen's more.txt) the server lost: both servers' ActionCache
        // answers only while every output exists, so gen misses the cache and runs again.
        try server.evict(Self.digest(Self.more))
        let later = try await build(["later.bst"], server, in: project)
        #expect(later.stderr.contains("Elements:  3: 2 built, 1 cached"), "\(later.stderr)")
        let laterCat = try await offPool { try cli.run(["cas", "cat", "later.bst", "later/later.txt", "--remote", server.url], in: project) }
        #expect(laterCat.stdout == Self.more, "\(laterCat.stderr)")
        #expect(try inconsistentBlobs(inCache: cli.cacheDir).isEmpty)
    }

    @Test func noHealFailsANonReproducibleArtifactIsNamedAndImportsComeFromSources() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let project = try project()
        let cli = self.cli
        _ = try await build(["gen.bst"], server, in: project)
        let noisy = try await build(["noisy.bst"], server, in: project)

        try server.evict(Self.digest(Self.gen))
        let refused = try await offPool { try cli.run(["cas", "cat", "gen.bst", "gen/gen.txt", "--remote", server.url, "--no-heal"], in: project) }
        #expect(refused.status != 0)
        #expect(refused.stderr.contains(Self.digest(Self.gen).hash), "\(refused.stderr)")
        #expect(Self.reruns(refused.stderr) == 0)
        #expect(!server.holds(Self.digest(Self.gen)))

        // Re-running noisy.bst makes other bytes: the read fails and the artifact is named.
        let root = try #require(noisy.stdout.split(separator: " ").last.map { try Digest(parsing: $0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        guard case .file(let noise) = try LocalTree(store: LocalContentStore(root: cli.cacheDir)).resolve(root, path: "noise/noise.txt") else {
            Issue.record("noise/noise.txt is not a file of \(root)")
            return
        }
        try server.evict(noise.digest)
        let cat = try await offPool { try cli.run(["cas", "cat", "noisy.bst", "noise/noise.txt", "--remote", server.url], in: project) }
        #expect(cat.status == 2, "\(cat.stderr)")
        #expect(cat.stderr.contains("hello/noisy.bst/") && cat.stderr.contains("is not reproducible"), "\(cat.stderr)")

        let mnt = cli.home.sub("mnt")
        let mount = try await offPool { try cli.run(["mount", "noisy.bst", mnt, "--remote", server.url], in: project) }
        #expect(mount.status == 0, "\(mount.stderr)")
        let failure = try await offPool { () -> Int32 in
            let fd = open(mnt + "/noise/noise.txt", O_RDONLY)
            guard fd >= 0 else { return errno }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            return read(fd, &buffer, buffer.count) < 0 ? errno : 0
        }
        #expect(failure == EIO)
        #expect(try await offPool { try cli.run(["umount", mnt]) }.status == 0)
        let logs = try FileManager.default.contentsOfDirectory(atPath: cli.cacheDir + "/mounts").filter { $0.hasSuffix(".log") }
        let log = try logs.map { try String(contentsOfFile: cli.cacheDir + "/mounts/" + $0, encoding: .utf8) }.joined()
        #expect(log.contains("is not reproducible"), "\(log)")

        // Healing on again, gen.txt comes back.
        let healed = try await offPool { try cli.run(["cas", "cat", "gen.bst", "gen/gen.txt", "--remote", server.url], in: project) }
        #expect(healed.stdout == Self.gen, "\(healed.stderr)")

        // An import element's blob, gone from the server and from the local cache: imported
        // again from the element's source and uploaded.
        let busyboxData = try Data(contentsOf: URL(fileURLWithPath: project + "/files/base/bin/busybox"))
        let busybox = Digest(data: busyboxData)
        try server.evict(busybox)
        try LocalContentStore(root: cli.cacheDir).remove(busybox)
        let out = cli.home.sub("base-out")
        let checkout = try await offPool { try cli.run(["checkout", "base.bst", out, "--remote", server.url], in: project) }
        #expect(checkout.status == 0, "\(checkout.stderr)")
        #expect(checkout.stderr.contains("healed hello/base.bst/"), "\(checkout.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/bin/busybox")) == busyboxData)
        #expect(server.holds(busybox))
        #expect(try inconsistentBlobs(inCache: cli.cacheDir).isEmpty)
    }
}
