import Foundation
import TestSupport
import Testing

/// Bazel 4.2.3 (Debian's `bazel-bootstrap`), the most used REAPI client, against
/// `lazycas serve` with the flags the README gives.
@Suite(.enabled(if: TestEnvironment.bazelTestsEnabled), .serialized)
struct BazelTests {
    static let remoteFlags = ["--spawn_strategy=remote", "--genrule_strategy=remote",
                              "--remote_default_exec_properties=lazycas.host-tools=true"]

    @Test func genrulesRunRemotelyOnServeAndACleanRebuildIsAllCacheHits() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let workspace = try BazelWorkspace()
        let first = try await workspace.build(["--remote_executor=\(server.url)"] + Self.remoteFlags)
        #expect(first.status == 0, "\(first.output.suffix(3000))")
        #expect(first.processes["remote"] == BazelWorkspace.targets.count, "\(first.output.suffix(1500))")
        #expect(workspace.output("out_0.txt") == "input\ngenerated\n")
        #expect(workspace.output("a/b/c/deep.txt") == "INPUT\nGENERATED\n")
        let hello = try await offPool { () -> String in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: workspace.root + "/bazel-bin/hello")
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            process.waitUntilExit()
            return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        }
        #expect(hello == "hello from a remote gcc\n")
        #expect(workspace.output("stamp.txt") == "1321009871\n", "inputs are staged with BuildStream's fixed mtime")

        // Outputs stay remote: nothing is downloaded, every action is a cache hit.
        try await workspace.clean()
        let again = try await workspace.build(["--remote_executor=\(server.url)", "--remote_download_minimal"] + Self.remoteFlags)
        #expect(again.status == 0, "\(again.output.suffix(3000))")
        #expect(again.processes["remote cache hit"] == BazelWorkspace.targets.count, "\(again.output.suffix(1500))")
        #expect(again.processes["remote"] == nil)
        #expect(workspace.output("out_0.txt") == nil, "--remote_download_minimal downloads no output")
    }

    @Test func aRemoteCacheWithLocalExecutionAndAnInstanceName() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let workspace = try BazelWorkspace()
        let cacheFlags = ["--remote_cache=\(server.url)", "--remote_instance_name=main"]
        let local = try await workspace.build(cacheFlags)
        #expect(local.status == 0, "\(local.output.suffix(3000))")
        #expect(local.processes["linux-sandbox"] ?? local.processes["processwrapper-sandbox"] ?? local.processes["local"] == BazelWorkspace.targets.count,
                "\(local.output.suffix(1500))")
        let updates = server.embedded?.stats.snapshot["UpdateActionResult"]
        #expect(updates?.requests == BazelWorkspace.targets.count && updates?.errors == 0, "Bazel stores the results it made: \(String(describing: updates))")

        try await workspace.clean()
        let cached = try await workspace.build(cacheFlags)
        #expect(cached.status == 0, "\(cached.output.suffix(3000))")
        #expect(cached.processes["remote cache hit"] == BazelWorkspace.targets.count, "\(cached.output.suffix(1500))")
        #expect(workspace.output("a/b/c/deep.txt") == "INPUT\nGENERATED\n")
    }
}
