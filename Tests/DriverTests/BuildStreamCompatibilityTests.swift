import Driver
import Foundation
import LocalCAS
import TestSupport
import Testing

/// The examples project is BuildStream's format for real: BuildStream 2.8.1 builds it unchanged,
/// and its outputs are the very trees lazycas builds remotely (the same Merkle digests).
@Suite(.enabled(if: TestEnvironment.buildStreamTestsEnabled && TestEnvironment.casdTestsEnabled))
struct BuildStreamCompatibilityTests {
    /// Runs bst with a private cache and config; returns its exit status and output.
    func bst(_ arguments: [String], project: String, work: TemporaryDirectory) throws -> (Int32, String) {
        let config = work.path + "/buildstream.conf"
        try "cachedir: \(work.sub("bst-cache"))\nlogdir: \(work.sub("bst-logs"))\nsourcedir: \(work.sub("bst-sources"))\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.bstPath)
        process.arguments = ["--no-interactive", "--config", config, "--directory", project] + arguments
        var env = ProcessInfo.processInfo.environment
        env["XDG_CACHE_HOME"] = work.sub("xdg-cache")
        env["XDG_CONFIG_HOME"] = work.sub("xdg-config")
        process.environment = env
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    @Test func buildStreamBuildsTheExamplesUnchangedToTheSameTrees() async throws {
        let h = try DriverHarness.examples()
        let work = TemporaryDirectory("bst")
        let project = h.projectRoot
        let (status, log) = try await offPool { try self.bst(["build", "world.bst"], project: project, work: work) }
        #expect(status == 0, "bst build failed:\n\(log.suffix(3000))")
        guard status == 0 else { return }

        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let (summary, _, _) = try await h.build(["world.bst"], on: server.url)
        #expect(summary.failed.isEmpty, "\(summary.failed)")

        let scratch = try LocalContentStore(root: work.sub("scratch"))
        for element in ["hello.bst", "greetings.bst", "docs.bst"] {
            let out = work.path + "/checkout-" + element
            let (code, text) = try await offPool {
                try self.bst(["artifact", "checkout", "--deps", "none", element, "--directory", out], project: project, work: work)
            }
            #expect(code == 0, "checkout of \(element):\n\(text.suffix(2000))")
            let theirs = try TreeImporter(store: scratch, storeFiles: false).importDirectory(at: out).root
            #expect(theirs == summary.artifacts[element]?.root, "\(element): BuildStream's output differs from lazycas's")
        }
    }
}
