import Driver
import Foundation
import Glibc
import LocalCAS
import TestSupport
import Testing

/// Sources from outside the project — `tar`, `remote`, `git` through aliases and mirrors — and
/// `patch`: fetched once, verified, cached as trees by ref, tracked into the files BuildStream
/// keeps refs in; and the errors for a wrong checksum, an unreachable URL and a missing ref.
@Suite struct SourceTests {
    /// A project whose `upstream` alias points at a directory of tarballs and files.
    struct Fixture {
        let h: DriverHarness
        let upstream: String
        let tarRef: String
        let scriptRef: String

        /// - Parameter aliasURL: where `upstream` points (default: the directory, `file://`).
        init(refStorage: String = "inline", mirror: Bool = false, aliasURL: String? = nil) throws {
            h = try DriverHarness(empty: ())
            upstream = h.dir.sub("upstream")
            let package = upstream + "/pkg-1.0"
            try FileManager.default.createDirectory(atPath: package + "/src", withIntermediateDirectories: true)
            try Data("hello from the tarball\n".utf8).write(to: URL(fileURLWithPath: package + "/src/greeting.txt"))
            try Data("#!/bin/sh\necho run\n".utf8).write(to: URL(fileURLWithPath: package + "/run.sh"))
            _ = try runTool(["chmod", "755", package + "/run.sh"])
            _ = try runTool(["tar", "czf", "pkg-1.0.tar.gz", "pkg-1.0"], in: upstream)
            try Data("#!/bin/sh\necho script\n".utf8).write(to: URL(fileURLWithPath: upstream + "/tool.sh"))
            tarRef = Digest(data: try Data(contentsOf: URL(fileURLWithPath: upstream + "/pkg-1.0.tar.gz"))).hash
            scriptRef = Digest(data: try Data(contentsOf: URL(fileURLWithPath: upstream + "/tool.sh"))).hash
            let alias = aliasURL ?? (mirror ? "file:///nonexistent/" : "file://\(upstream)/")
            let mirrors = mirror ? "mirrors:\n- name: local\n  aliases:\n    upstream: [\"file://\(upstream)/\"]\n" : ""
            h.write("project.conf", """
                name: src
                min-version: 2.0
                element-path: elements
                ref-storage: \(refStorage)
                aliases:
                  upstream: \(alias)
                \(mirrors)
                plugins:
                - origin: pip
                  package-name: buildstream-plugins
                  sources: [git, patch]
                """)
            try FileManager.default.createDirectory(atPath: h.projectRoot + "/elements", withIntermediateDirectories: true)
        }

        var project: Project { get throws { try Project(root: h.projectRoot) } }

        /// `elements/pkg.bst`: the tarball, and `tool.sh` as an executable `bin/tool.sh`.
        func writePackage() {
            h.write("elements/pkg.bst", """
                kind: import
                sources:
                - kind: tar
                  url: upstream:pkg-1.0.tar.gz
                  ref: \(tarRef)
                - kind: remote
                  url: upstream:tool.sh
                  ref: \(scriptRef)
                  executable: true
                  directory: bin
                """)
        }

        func element(_ name: String) throws -> ElementDefinition {
            try ElementGraph(project: try project, targets: [name]).elements[name]!
        }

        /// Fetches `name`'s sources and resolves its (import) artifact; the checked-out tree.
        func fetchAndCheckout(_ name: String) async throws -> String {
            try await SourceFetcher(cache: try SourceCache(store: h.store)).fetch(try element(name))
            let root = try ArtifactResolver(project: try project, store: h.store).artifact(of: name).root
            let out = h.dir.sub("out-\(UUID().uuidString)")
            _ = try TreeCheckout(store: h.store).write(root, into: out)
            return out
        }
    }

    func failure(_ body: () async throws -> Void) async -> String {
        do {
            try await body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func aTarballAndARemoteFileAreFetchedOnceVerifiedAndStaged() async throws {
        let f = try Fixture(mirror: true)
        f.writePackage()
        let out = try await f.fetchAndCheckout("pkg.bst")
        #expect(try String(contentsOfFile: out + "/src/greeting.txt", encoding: .utf8) == "hello from the tarball\n", "base-dir '*' strips pkg-1.0/")
        #expect(FileManager.default.isExecutableFile(atPath: out + "/run.sh"))
        #expect(FileManager.default.isExecutableFile(atPath: out + "/bin/tool.sh"), "executable: true \((try? runTool(["ls", "-lR", out]))?.output ?? "")")
        // Cached by ref: the upstream can go away.
        try FileManager.default.removeItem(atPath: f.upstream)
        #expect(try await SourceFetcher(cache: try SourceCache(store: f.h.store)).fetch(try f.element("pkg.bst")) == 0)
        _ = try ArtifactResolver(project: try f.project, store: f.h.store).artifact(of: "pkg.bst")
    }

    @Test func aWrongChecksumAnUnreachableURLAndAMissingRefAreErrorsNamingTheSource() async throws {
        let f = try Fixture()
        let wrong = String(repeating: "a", count: 64)
        f.h.write("elements/wrong.bst", "kind: import\nsources:\n- kind: tar\n  url: upstream:pkg-1.0.tar.gz\n  ref: \(wrong)\n")
        f.h.write("elements/gone.bst", "kind: import\nsources:\n- kind: tar\n  url: upstream:nothere.tar.gz\n  ref: \(wrong)\n")
        f.h.write("elements/noref.bst", "kind: import\nsources:\n- kind: tar\n  url: upstream:pkg-1.0.tar.gz\n")
        let fetcher = SourceFetcher(cache: try SourceCache(store: f.h.store))
        let checksum = await failure { try await fetcher.fetch(try f.element("wrong.bst")) }
        #expect(checksum.contains("elements/wrong.bst:3:3: tar source of wrong.bst: file://\(f.upstream)/pkg-1.0.tar.gz has sha256 \(f.tarRef), but the ref says \(wrong)"), "\(checksum)")
        let unreachable = await failure { try await fetcher.fetch(try f.element("gone.bst")) }
        #expect(unreachable.contains("cannot download it: file://\(f.upstream)/nothere.tar.gz"), "\(unreachable)")
        let noRef = await failure { try await fetcher.fetch(try f.element("noref.bst")) }
        #expect(noRef.contains("has no ref: run 'lazycas source track noref.bst'"), "\(noRef)")
        // Nothing was cached for them, and resolving says what to run.
        let unfetched = await failure { _ = try ArtifactResolver(project: try f.project, store: f.h.store).artifact(of: "wrong.bst") }
        #expect(unfetched.contains("is not fetched: run 'lazycas source fetch wrong.bst'"), "\(unfetched)")
    }

    /// `http://` URLs are fetched by the `lazycas-download` helper process, here from Python's
    /// HTTP server: the tarball and the file arrive and are verified; a file the server lacks is
    /// an error naming the URL and the HTTP status, and nothing is cached for it.
    @Test func sourcesOverHTTPAreFetchedByTheDownloadHelper() async throws {
        let port = freeLoopbackPort()
        let f = try Fixture(aliasURL: "http://127.0.0.1:\(port)/")
        let server = try await SpawnedProcess.start(
            ["python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", f.upstream, "\(port)"],
            output: f.h.dir.path + "/http.log")
        defer {
            server.signal(SIGTERM)
            _ = server.waitUntilExit()
        }
        try await waitForListener(port: port, stillStarting: { server.isRunning })
        f.writePackage()
        let out = try await f.fetchAndCheckout("pkg.bst")
        #expect(try String(contentsOfFile: out + "/src/greeting.txt", encoding: .utf8) == "hello from the tarball\n")
        #expect(try String(contentsOfFile: out + "/bin/tool.sh", encoding: .utf8) == "#!/bin/sh\necho script\n")
        f.h.write("elements/gone.bst", "kind: import\nsources:\n- kind: tar\n  url: upstream:nothere.tar.gz\n  ref: \(String(repeating: "b", count: 64))\n")
        let gone = await failure { try await SourceFetcher(cache: try SourceCache(store: f.h.store)).fetch(try f.element("gone.bst")) }
        #expect(gone.contains("cannot download it: http://127.0.0.1:\(port)/nothere.tar.gz: HTTP 404"), "\(gone)")
        let unfetched = await failure { _ = try ArtifactResolver(project: try f.project, store: f.h.store).artifact(of: "gone.bst") }
        #expect(unfetched.contains("is not fetched"), "\(unfetched)")
    }

    @Test func aPatchAppliesToTheSourcesBeforeIt() async throws {
        let f = try Fixture()
        f.h.write("patches/fix.patch", """
            --- a/src/greeting.txt
            +++ b/src/greeting.txt
            @@ -1 +1 @@
            -hello from the tarball
            +hello from the patched tarball

            """)
        f.h.write("patches/bad.patch", "--- a/src/none.txt\n+++ b/src/none.txt\n@@ -1 +1 @@\n-x\n+y\n")
        f.h.write("elements/patched.bst", "kind: import\nsources:\n- kind: tar\n  url: upstream:pkg-1.0.tar.gz\n  ref: \(f.tarRef)\n- kind: patch\n  path: patches/fix.patch\n")
        f.h.write("elements/broken.bst", "kind: import\nsources:\n- kind: tar\n  url: upstream:pkg-1.0.tar.gz\n  ref: \(f.tarRef)\n- kind: patch\n  path: patches/bad.patch\n")
        let out = try await f.fetchAndCheckout("patched.bst")
        #expect(try String(contentsOfFile: out + "/src/greeting.txt", encoding: .utf8) == "hello from the patched tarball\n")
        let broken = await failure { _ = try await f.fetchAndCheckout("broken.bst") }
        #expect(broken.contains("elements/broken.bst:6:3: patch bad.patch does not apply"), "\(broken)")
        f.h.write("elements/undeclared.bst", "kind: import\nsources:\n- kind: local\n  path: patches\n- kind: patch\n  path: patches/fix.patch\n")
        let g = try DriverHarness(empty: ())
        g.write("project.conf", "name: p\nmin-version: 2.0\n")
        g.write("patches/fix.patch", "x")
        g.write("a.bst", "kind: import\nsources:\n- kind: local\n  path: patches\n- kind: patch\n  path: patches/fix.patch\n")
        let undeclared = await failure { _ = try ElementGraph(project: try g.project, targets: ["a.bst"]) }
        #expect(undeclared.contains("source kind 'patch' comes from buildstream-plugins: declare it"), "\(undeclared)")
    }

    @Test func aGitSourceIsCheckedOutAtItsRefAndTrackedToItsBranch() async throws {
        let f = try Fixture()
        let repo = f.h.dir.sub("repo")
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        func git(_ args: [String]) throws -> String {
            let result = try runTool(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"] + args, in: repo)
            #expect(result.status == 0, "git \(args): \(result.output)")
            return result.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try git(["init", "-q"])
        try Data("version 1\n".utf8).write(to: URL(fileURLWithPath: repo + "/VERSION"))
        _ = try git(["add", "VERSION"])
        _ = try git(["commit", "-q", "-m", "one"])
        let first = try git(["rev-parse", "HEAD"])
        f.h.write("elements/repo.bst", "kind: import\nsources:\n- kind: git\n  url: file://\(repo)\n  track: main\n  ref: \(first)\n")
        var out = try await f.fetchAndCheckout("repo.bst")
        #expect(try String(contentsOfFile: out + "/VERSION", encoding: .utf8) == "version 1\n")
        #expect(!FileManager.default.fileExists(atPath: out + "/.git"), "the tree, not the repository")

        try Data("version 2\n".utf8).write(to: URL(fileURLWithPath: repo + "/VERSION"))
        _ = try git(["commit", "-q", "-am", "two"])
        let second = try git(["rev-parse", "HEAD"])
        let tracker = SourceTracker(project: try f.project, cache: try SourceCache(store: f.h.store))
        let changes = try await tracker.track(try f.element("repo.bst"))
        #expect(changes.map(\.new) == [second])
        let text = try String(contentsOfFile: f.h.projectRoot + "/elements/repo.bst", encoding: .utf8)
        #expect(text.contains("  ref: \(second)\n") && !text.contains(first), "\(text)")
        out = try await f.fetchAndCheckout("repo.bst")
        #expect(try String(contentsOfFile: out + "/VERSION", encoding: .utf8) == "version 2\n")
    }

    @Test func trackingWritesRefsIntoTheElementOrProjectRefs() async throws {
        let inline = try Fixture()
        inline.h.write("elements/pkg.bst", "kind: import\nsources:\n- kind: tar\n  url: upstream:pkg-1.0.tar.gz\n  directory: x\n")
        let tracker = SourceTracker(project: try inline.project, cache: try SourceCache(store: inline.h.store))
        #expect(try await tracker.track(try inline.element("pkg.bst")).map(\.new) == [inline.tarRef])
        let text = try String(contentsOfFile: inline.h.projectRoot + "/elements/pkg.bst", encoding: .utf8)
        #expect(text == "kind: import\nsources:\n- kind: tar\n  url: upstream:pkg-1.0.tar.gz\n  directory: x\n  ref: \(inline.tarRef)\n", "\(text)")

        let refs = try Fixture(refStorage: "project.refs")
        refs.h.write("elements/pkg.bst", "kind: import\nsources:\n- kind: tar\n  url: upstream:pkg-1.0.tar.gz\n")
        let refsTracker = SourceTracker(project: try refs.project, cache: try SourceCache(store: refs.h.store))
        _ = try await refsTracker.track(try refs.element("pkg.bst"))
        let written = try String(contentsOfFile: refs.h.projectRoot + "/project.refs", encoding: .utf8)
        #expect(written.contains("projects:\n  src:\n    pkg.bst:\n    - ref: \(refs.tarRef)\n"), "\(written)")
        #expect(try refs.element("pkg.bst").sources[0].ref == refs.tarRef, "project.refs is read back")
        _ = try await refs.fetchAndCheckout("pkg.bst")
        refs.h.write("elements/inline.bst", "kind: import\nsources:\n- kind: tar\n  url: upstream:pkg-1.0.tar.gz\n  ref: \(refs.tarRef)\n")
        let misplaced = await failure { _ = try refs.element("inline.bst") }
        #expect(misplaced.contains("keeps refs in project.refs"), "\(misplaced)")
    }
}
