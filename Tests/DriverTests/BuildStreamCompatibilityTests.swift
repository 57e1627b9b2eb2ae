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
        return try runBuildStream(["--config", config, "--directory", project] + arguments, work: work)
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

/// BuildStream as a client of `lazycas serve`: its remote execution (which names outputs
/// relative to a working directory, `../../../buildstream-install`) builds the examples.
@Suite(.enabled(if: TestEnvironment.buildStreamTestsEnabled && TestEnvironment.casdTestsEnabled))
struct BuildStreamRemoteExecutionTests {
    @Test func buildStreamBuildsTheExamplesWithLazycasServeAsItsRemote() async throws {
        let h = try DriverHarness.examples()
        let work = TemporaryDirectory("bst-remote")
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let endpoint = "http://127.0.0.1:\(server.port)"
        let config = try writeBuildStreamConfig(in: work, remote: endpoint)
        let project = h.projectRoot
        let (status, log) = try await offPool {
            try runBuildStream(["--config", config, "--directory", project, "build", "world.bst"], work: work)
        }
        #expect(status == 0, "bst build with lazycas serve as remote failed:\n\(log.suffix(3000))")
        // The three manual elements ran on our server.
        let executed = server.embedded!.stats.snapshot["Execute"]?.requests ?? 0
        #expect(executed == 3, "Execute calls: \(executed)")
    }

    /// A GNU-style release tarball (`configure` and `Makefile.in` newer than their sources),
    /// built by buildstream-plugins' `autotools` element: `make` must not try to run automake,
    /// which it does when the staged inputs' mtimes put `Makefile.am` after `Makefile.in`.
    @Test func anAutotoolsReleaseTarballBuildsOnLazycasServe() async throws {
        let project = try AutotoolsProject()
        let work = TemporaryDirectory("bst-autotools")
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let config = try writeBuildStreamConfig(in: work, remote: "http://127.0.0.1:\(server.port)")
        let (status, log) = try await offPool {
            try runBuildStream(["--config", config, "--directory", project.root, "build", "hello.bst"], work: work)
        }
        #expect(status == 0, "bst build of an autotools tarball on lazycas serve failed:\n\(log.suffix(4000))")
        #expect(server.embedded!.stats.snapshot["Execute"]?.requests == 1)
        let checkout = work.path + "/checkout"
        let (out, outLog) = try await offPool {
            try runBuildStream(["--config", config, "--directory", project.root, "artifact", "checkout", "hello.bst", "--directory", checkout], work: work)
        }
        #expect(out == 0, "\(outLog.suffix(2000))")
        #expect(try AutotoolsProject.runHello(in: checkout) == AutotoolsProject.greeting + "\n")

        // The same project, unchanged, built by lazycas: the same tree, byte for byte.
        let h = try DriverHarness(projectAt: project.root)
        let (summary, metrics, _) = try await h.build(["hello.bst"], on: server.url)
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        let scratch = try LocalContentStore(root: work.sub("scratch"))
        let theirs = try TreeImporter(store: scratch, storeFiles: false).importDirectory(at: checkout).root
        #expect(theirs == summary.artifacts["hello.bst"]?.root, "BuildStream's autotools artifact differs from lazycas's")
        #expect(metrics.calls["Execute"] == 1, "\(metrics.callSummary)")
    }
}
