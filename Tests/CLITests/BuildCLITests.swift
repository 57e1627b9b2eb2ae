import Foundation
import LocalCAS
import TestSupport
import Testing

/// The command lines, typed as a user would, against `lazycas serve`.
@Suite(.serialized) struct BuildCLITests {
    let cli = CLI()

    @Test func buildMountArtifactListAndLogEndToEnd() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let project = try cli.examples()
        let cli = self.cli
        let build = try await offPool { try cli.run(["build", "--remote-jobs", "16", "world.bst", "--remote", server.url], in: project) }
        #expect(build.status == 0, "\(build.stderr)")
        for element in ["base.bst", "hello.bst", "greetings.bst", "docs.bst", "world.bst"] {
            #expect(build.stderr.contains("][ build:\(element)"), "no line for \(element)")
        }
        #expect(build.stderr.contains("Elements:  5: 5 built, 0 cached, 0 failed, 0 skipped"), "\(build.stderr)")
        #expect(build.stderr.contains("Execute 3"))
        #expect(build.stdout.hasPrefix("hello/world.bst/"))

        let again = try await offPool { try cli.run(["build", "world.bst", "--remote", server.url], in: project) }
        #expect(again.status == 0)
        #expect(again.stderr.contains("0 built, 5 cached"), "\(again.stderr)")
        #expect(!again.stderr.contains("Execute"))

        let list = try await offPool { try cli.run(["artifact", "list"]) }
        #expect(list.stdout.contains("hello/hello.bst/"))
        #expect(list.stdout.split(separator: "\n").count == 5)
        let log = try await offPool { try cli.run(["artifact", "log", "hello.bst"], in: project) }
        #expect(log.status == 0, "\(log.stderr)")
        #expect(log.stdout.contains("+ cp hello /buildstream-install/usr/bin/hello"))

        guard TestEnvironment.fuseTestsEnabled else { return }
        let mnt = cli.home.sub("mnt")
        let mount = try await offPool { try cli.run(["mount", "hello.bst", mnt, "--remote", server.url], in: project) }
        #expect(mount.status == 0, "\(mount.stderr)")
        let hello = try await offPool { try String(contentsOfFile: mnt + "/usr/bin/hello", encoding: .utf8) }
        #expect(hello.contains("hello 1.0"))
        #expect(try await offPool { try cli.run(["umount", mnt]) }.status == 0)
    }

    @Test func badInputAndFailuresHaveTheirExitCodes() async throws {
        let project = try cli.examples()
        let cli = self.cli
        let unknown = try await offPool { try cli.run(["build", "nope.bst", "--remote", "grpc://127.0.0.1:1"], in: project) }
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no element 'nope.bst'"))
        let noProject = try await offPool { try cli.run(["build", "hello.bst"], in: cli.home.sub("empty")) }
        #expect(noProject.status == 1)
        #expect(noProject.stderr.contains("no project.conf"))
        let noRemote = try await offPool { try cli.run(["build", "hello.bst"], in: project) }
        #expect(noRemote.status == 1)
        #expect(noRemote.stderr.contains("needs a remote"))
        let badDownload = try await offPool { try cli.run(["build", "hello.bst", "--download", "some"], in: project) }
        #expect(badDownload.status == 1)
        let unreachable = try await offPool { try cli.run(["build", "hello.bst", "--remote", "grpc://127.0.0.1:\(freeLoopbackPort())", "--timeout", "2"], in: project) }
        #expect(unreachable.status == 2, "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("FAILURE"))
        // Attempts that never reached a server are calls too, and failed ones.
        let attempts = unreachable.stderr.firstMatch(of: /RPCs: +(\d+) \(.*\); (\d+) failed/)
        #expect(attempts.map { Int($0.1)! >= 1 && $0.1 == $0.2 } == true, "\(unreachable.stderr)")
        let notBuilt = try await offPool { try cli.run(["cas", "ls", "hello.bst"], in: project) }
        #expect(notBuilt.status == 1)
        #expect(notBuilt.stderr.contains("has not been built"), "\(notBuilt.stderr)")

        _ = FileManager.default.createFile(atPath: project + "/elements/broken.bst",
                                           contents: Data("kind: manual\nbuild-depends: [base.bst]\nconfig:\n  build-commands: ['echo nope >&2; exit 4']\n".utf8))
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let failed = try await offPool { try cli.run(["build", "broken.bst", "--remote", server.url], in: project) }
        #expect(failed.status == 3, "\(failed.stderr)")
        #expect(failed.stderr.contains("exit code 4"))
        #expect(failed.stderr.contains("nope"))
    }
}
