import Driver
import Foundation
import LocalCAS
import TestSupport
import Testing

/// `examples/image`, a project shaped like a real one (Debian sysroot from a tarball, autotools
/// and cmake releases, a patch, compose, filter, script, an option, an include, a junction, and
/// the meson/make/pip/setuptools kinds), built unchanged by BuildStream 2.8.1 and by lazycas on
/// the same execution server: every element's artifact must be the same tree.
@Suite(.enabled(if: TestEnvironment.buildStreamTestsEnabled && TestEnvironment.casdTestsEnabled), .serialized)
struct ExampleProjectTests {
    static let elements = [
        "sysroot.bst", "hello.bst", "calc.bst", "runtime.bst", "devel.bst", "image.bst", "extras.bst:motd.bst",
        "kinds/meson.bst", "kinds/make.bst", "kinds/pip.bst", "kinds/setuptools.bst",
    ]

    /// A copy of examples/image with its tarballs and refs made.
    static func prepare(in work: TemporaryDirectory) throws -> String {
        let root = work.sub("image")
        try FileManager.default.copyItem(atPath: TestEnvironment.packageRoot + "/examples/image", toPath: root)
        try? FileManager.default.removeItem(atPath: root + "/upstream")
        let result = try runTool(["bash", root + "/prepare.sh"], environment: ["LAZYCAS_TOOLS": TestEnvironment.toolsDir])
        guard result.status == 0 else { throw TestSupportError("prepare.sh failed:\n\(result.output)") }
        return root
    }

    /// Every path under `root` with what it is (a file's digest and executable bit, a symlink's target).
    static func listing(_ root: Digest, _ store: any DirectoryStore, prefix: String = "") throws -> [String: String] {
        let directory = try store.directory(root)
        var result: [String: String] = [:]
        for file in directory.files { result[prefix + file.name.name] = "\(file.digest)\(file.isExecutable ? " x" : "")" }
        for link in directory.symlinks { result[prefix + link.name.name] = "-> " + link.target }
        for sub in directory.directories {
            result[prefix + sub.name.name] = "dir"
            result.merge(try listing(sub.digest, store, prefix: prefix + sub.name.name + "/")) { a, _ in a }
        }
        return result
    }

    @Test(arguments: [ServerKind.lazycasServe, .buildboxCASD])
    func theImageProjectBuildsUnchangedWithBothToolsToTheSameTrees(kind: ServerKind) async throws {
        let work = TemporaryDirectory("image-\(kind == .lazycasServe ? "serve" : "casd")")
        let root = try Self.prepare(in: work)
        let server = try await TestServer.start(kind, jobs: 2, execution: true)
        defer { Task { await server.stop() } }
        let config = try writeBuildStreamConfig(in: work, remote: "http://127.0.0.1:\(server.port)")

        let (status, log) = try await offPool { try runBuildStream(["--config", config, "--directory", root, "build", "all.bst"], work: work) }
        #expect(status == 0, "bst build failed:\n\(log.suffix(4000))")
        guard status == 0 else { return }

        let h = try DriverHarness(projectAt: root)
        let (summary, metrics, _) = try await h.build(["all.bst"], on: server.url)
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        guard summary.failed.isEmpty else { return }
        let executed = metrics.calls["Execute"] ?? 0
        #expect(executed == 7, "hello, calc, image and the four kinds run actions; sysroot, runtime, devel, motd do not (\(metrics.callSummary))")

        let scratch = try LocalContentStore(root: work.sub("scratch"))
        for element in Self.elements {
            let out = work.sub("bst-" + element.replacingOccurrences(of: "/", with: "-"))
            let (code, text) = try await offPool {
                try runBuildStream(["--config", config, "--directory", root, "artifact", "checkout", "--deps", "none", element, "--directory", out], work: work)
            }
            #expect(code == 0, "checkout of \(element):\n\(text.suffix(2000))")
            guard code == 0, let ours = summary.artifacts[element] else {
                Issue.record("\(element): no artifact from lazycas")
                continue
            }
            let theirs = try TreeImporter(store: scratch, storeFiles: false).importDirectory(at: out).root
            if theirs != ours.root {
                let a = try Self.listing(theirs, scratch), b = try Self.listing(ours.root, h.store)
                let differing = Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
                let first = differing.first.map { path in
                    let ours = (try? Digest(parsing: String(b[path]?.split(separator: " ").first ?? ""))).flatMap { try? server.read($0) }
                    let theirs = FileManager.default.contents(atPath: out + "/" + path)
                    return "\n\(path), BuildStream's:\n\(String(decoding: (theirs ?? Data()).prefix(2000), as: UTF8.self))\nlazycas's:\n\(String(decoding: (ours ?? Data()).prefix(2000), as: UTF8.self))"
                } ?? ""
                Issue.record("\(element): BuildStream's tree differs from lazycas's at \(differing.prefix(20))\(first)")
            }
            if element == "image.bst" {
                #expect(try String(contentsOfFile: out + "/image/etc/motd", encoding: .utf8) == "Welcome to the image.\n", "the junction's option")
                #expect(try runTool([out + "/image/usr/bin/hello"]).output == "hello from a patched autotools build\n")
                #expect(try runTool([out + "/image/usr/bin/calc", "40", "2"]).output == "42\n")
                #expect(!FileManager.default.fileExists(atPath: out + "/image/usr/include/calc.h"), "the runtime composition has no headers")
            }
        }
    }
}
