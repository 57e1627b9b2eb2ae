import Foundation
import LocalCAS
import TestSupport
import Testing

/// `lazycas checkout` of a 10,000-file tree against both servers, as a user types it.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled), .serialized)
struct CheckoutCLITests {
    let cli = CLI()

    @Test(arguments: ServerKind.allCases)
    func aCheckoutOfTenThousandFilesIsIdenticalToTheSource(kind: ServerKind) async throws {
        let server = try await TestServer.start(kind)
        defer { Task { await server.stop() } }
        var fixture = TreeFixture(root: cli.home.sub("src"))
        fixture.populate(files: 10_000, sizes: 64...4096)
        fixture.file("bin/tool", size: 1000, executable: true)
        fixture.symlink("bin/alias", to: "tool")
        fixture.directory("empty")
        let cli = self.cli, src = fixture.root
        let put = try await offPool { try cli.run(["cas", "put", src, "--remote", server.url, "--cache-dir", cli.home.sub("uploader")]) }
        #expect(put.status == 0, "\(put.stderr)")
        let root = put.stdout.trimmingCharacters(in: .newlines)

        let out = cli.home.path + "/out"
        let checkout = try await offPool { try cli.run(["checkout", root, out, "--remote", server.url]) }
        #expect(checkout.status == 0, "\(checkout.stderr)")
        #expect(checkout.stderr.contains("fetched 10001 of 10001 file blobs"), "\(checkout.stderr)")
        #expect(try treeDifferences(src, out) == "")

        // A non-empty target is refused, and nothing in it changes.
        let refused = try await offPool { try cli.run(["checkout", root, out]) }
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("is not empty"))

        // (Tar streams are checked on a smaller tree in TreeCheckoutTests and below.)
    }

    @Test func aTarCheckoutOnStdoutIsTheTree() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        var fixture = TreeFixture(root: cli.home.sub("src"))
        fixture.populate(files: 200, sizes: 64...4096)
        fixture.file("bin/tool", size: 1000, executable: true)
        fixture.symlink("bin/alias", to: "tool")
        let cli = self.cli, src = fixture.root
        let root = try await offPool { try cli.run(["cas", "put", src, "--remote", server.url]) }.stdout.trimmingCharacters(in: .newlines)
        let tar = try await offPool { () throws -> Data in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: TestEnvironment.lazycasBinary)
            process.arguments = ["checkout", root, "--tar", "-", "--remote", server.url]
            var env = ProcessInfo.processInfo.environment
            env["HOME"] = cli.home.path
            process.environment = env
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return data
        }
        let tarFile = cli.home.path + "/tree.tar"
        FileManager.default.createFile(atPath: tarFile, contents: tar)
        let untarred = cli.home.sub("untarred")
        #expect(try runTool(["tar", "-xf", tarFile, "-C", untarred]).status == 0)
        #expect(try treeDifferences(src, untarred) == "")
    }
}
