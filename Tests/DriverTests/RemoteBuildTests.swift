import Driver
import Foundation
import LocalCAS
import REAPI
import RemoteCAS
import TestSupport
import Testing

/// `lazycas build` against real execution servers: ours (`lazycas serve`) and buildbox-casd
/// with its local execution service.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled), .serialized)
struct RemoteBuildTests {
    @Test(arguments: ServerKind.allCases)
    func theExamplesBuildAndOnlyDirectoryNodesComeBack(kind: ServerKind) async throws {
        let server = try await TestServer.start(kind, execution: true)
        defer { Task { await server.stop() } }
        let h = try DriverHarness.examples()
        let (summary, _, events) = try await h.build(["world.bst"], on: server.url)
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        #expect(Set(summary.built) == ["base.bst", "hello.bst", "greetings.bst", "docs.bst", "world.bst"])
        #expect(events.filter { $0.kind == .start }.count == 5)

        // The artifacts' Directory nodes are local; the output file blobs are not (unless an
        // output is a copy of a source file, which is local because it is a source).
        let sources = try TreeImporter(store: try LocalContentStore(root: h.dir.sub("scratch")), storeFiles: false)
            .importDirectory(at: h.projectRoot).files.keys
        let tree = LocalTree(store: h.store)
        for name in ["hello.bst", "greetings.bst", "docs.bst"] {
            let root = summary.artifacts[name]!.root
            #expect(try tree.missingDirectories(under: root).isEmpty)
            var files = 0
            try tree.forEachFile(under: root) { path, file in
                files += 1
                #expect(!h.store.contains(file.digest) || sources.contains(file.digest), "\(name): output \(path) was downloaded")
            }
            #expect(files > 0, "\(name) has no files")
        }
        let greetings = try tree.resolve(summary.artifacts["greetings.bst"]!.root, path: "usr/share/greetings")
        guard case .directory(let dir) = greetings else { Issue.record("no greetings directory"); return }
        #expect(try tree.directory(dir).files.count == 200)

        // The bytes are right: fetch one output through the remote and compare.
        guard case .file(let hello) = try tree.resolve(summary.artifacts["hello.bst"]!.root, path: "usr/bin/hello") else {
            Issue.record("no usr/bin/hello"); return
        }
        #expect(hello.isExecutable)
        try await RemoteConnection.with(DriverHarness.configuration(server.url)) { connection in
            try await ReadCachingContentStore(fast: h.store, slow: connection.store).fetchAll([hello.digest])
        }
        let script = String(decoding: try h.store.read(hello.digest), as: UTF8.self)
        #expect(script.contains("echo \"hello 1.0\""))
        #expect(script.contains("Hello, world!"))
        // The stack is empty; the import is busybox and its links.
        #expect(summary.artifacts["world.bst"]!.root == Digest.empty)
        guard case .file(let busybox) = try tree.resolve(summary.artifacts["base.bst"]!.root, path: "bin/busybox") else {
            Issue.record("no bin/busybox"); return
        }
        #expect(busybox.isExecutable)
    }

    /// The RPCs of one cache-miss element do not grow with its input files.
    @Test(arguments: ServerKind.allCases)
    func aCacheMissElementCostsTheSameRoundTripsWhateverItsInputs(kind: ServerKind) async throws {
        var counts: [Int: Metrics.Snapshot] = [:]
        for files in [3, 400] {
            let server = try await TestServer.start(kind, execution: true)
            let h = try DriverHarness.withBase(["gen.bst": """
                kind: manual
                build-depends: [base.bst]
                sources:
                - kind: local
                  path: files/gen
                config:
                  install-commands:
                  - mkdir -p %{install-root}/out && ls | wc -l > %{install-root}/out/count
                """])
            for i in 0..<files { h.write("files/gen/f\(i).txt", "input \(i) of \(files)\n") }
            let (summary, rpcs, _) = try await h.build(["gen.bst"], on: server.url)
            await server.stop()
            #expect(summary.failed.isEmpty, "\(summary.failed)")
            counts[files] = rpcs
        }
        for (files, rpcs) in counts {
            // GetCapabilities once per build (batch limits), then GetActionResult,
            // FindMissingBlobs, BatchUpdateBlobs, Execute, BatchReadBlobs (Tree + logs).
            #expect(rpcs.calls == ["GetCapabilities": 1, "GetActionResult": 1, "FindMissingBlobs": 1,
                                   "BatchUpdateBlobs": 1, "Execute": 1, "BatchReadBlobs": 1], "\(files) files: \(rpcs.summary)")
        }
        #expect(counts[3]!.calls == counts[400]!.calls)
        #expect(counts[400]!.blobsSent > counts[3]!.blobsSent)
    }

    @Test(arguments: ServerKind.allCases)
    func aSecondBuildIsAllCacheHitsWithNoExecuteAndNoUploads(kind: ServerKind) async throws {
        let server = try await TestServer.start(kind, execution: true)
        defer { Task { await server.stop() } }
        let h = try DriverHarness.examples()
        let (first, _, _) = try await h.build(["world.bst"], on: server.url)
        #expect(first.failed.isEmpty)

        // Same cache: each manual element asks the ActionCache once; nothing else moves.
        let (again, rpcs, _) = try await h.build(["world.bst"], on: server.url)
        #expect(again.built.isEmpty, "rebuilt: \(again.built)")
        #expect(Set(again.cached) == Set(first.built))
        #expect(rpcs.calls == ["GetActionResult": 3], "\(rpcs.summary)")
        #expect(again.artifacts.mapValues(\.root) == first.artifacts.mapValues(\.root))

        // A fresh cache (another machine): remote cache hits, each one GetActionResult and one
        // BatchReadBlobs (output Tree and logs), still no Execute and no upload.
        let other = try LocalContentStore(root: h.dir.sub("other-cache"))
        let (remote, rpcs2, _) = try await h.build(["world.bst"], on: server.url, store: other)
        #expect(remote.failed.isEmpty, "\(remote.failed)")
        #expect(rpcs2["Execute"] == 0 && rpcs2["BatchUpdateBlobs"] == 0 && rpcs2["Write"] == 0, "\(rpcs2.summary)")
        #expect(rpcs2["GetActionResult"] == 3 && rpcs2["BatchReadBlobs"] == 3, "\(rpcs2.summary)")
        #expect(remote.artifacts.mapValues(\.root) == first.artifacts.mapValues(\.root))
    }

    /// Build elements stage their inputs as BuildStream does, read-only but for the build and
    /// install roots and scratch directories, so buildbox may share them instead of copying; an
    /// action that also runs integration commands (which write anywhere) stays writable.
    @Test func buildInputsAreMarkedReadOnlyUnlessTheActionIntegrates() async throws {
        let server = try await TestServer.start(.buildboxCASD, execution: true)
        defer { Task { await server.stop() } }
        let h = try DriverHarness.withBase([
            "lib.bst": "kind: stack\ndepends: [base.bst]\npublic:\n  bst:\n    integration-commands:\n    - mkdir -p /etc && echo integrated > /etc/lib.conf\n",
            "plain.bst": "kind: manual\nbuild-depends: [base.bst]\nconfig:\n  install-commands:\n  - echo built > /tmp/scratch\n  - mkdir -p %{install-root}/out && cp /tmp/scratch %{install-root}/out/plain\n",
            "app.bst": "kind: manual\nbuild-depends: [lib.bst]\nconfig:\n  install-commands:\n  - mkdir -p %{install-root}/out && cp /etc/lib.conf %{install-root}/out/app\n",
        ])
        let (summary, _, _) = try await h.build(["plain.bst", "app.bst"], on: server.url)
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        func inputRootReadOnly(_ name: String) throws -> String? {
            guard let action = summary.artifacts[name]?.action else { throw TestSupportError("\(name) has no action") }
            let message = try Build_Bazel_Remote_Execution_V2_Action(serializedBytes: h.store.read(action))
            let root = try LocalTree(store: h.store).directory(Digest(message.inputRootDigest))
            return root.message.nodeProperties.properties.first { $0.name == TreeComposer.subtreeReadOnly }?.value
        }
        #expect(try inputRootReadOnly("plain.bst") == "true")
        #expect(try inputRootReadOnly("app.bst") == nil)
        // Both built what they should: the scratch file under /tmp, the integrated file under /etc.
        try await RemoteConnection.with(DriverHarness.configuration(server.url)) { connection in
            let fetcher = ReadCachingContentStore(fast: h.store, slow: connection.store)
            for (name, path, text) in [("plain.bst", "out/plain", "built\n"), ("app.bst", "out/app", "integrated\n")] {
                guard case .file(let file) = try LocalTree(store: h.store).resolve(summary.artifacts[name]!.root, path: path) else {
                    Issue.record("\(name) has no \(path)"); continue
                }
                try await fetcher.fetchAll([file.digest])
                #expect(String(decoding: try h.store.read(file.digest), as: UTF8.self) == text, "\(name)")
            }
        }
    }

    @Test func aFailingElementShowsItsLogSkipsDependentsAndKeepGoingBuildsTheRest() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let h = try DriverHarness.withBase([
            "bad.bst": "kind: manual\nbuild-depends: [base.bst]\nconfig:\n  build-commands:\n  - echo about to fail >&2\n  - exit 7\n",
            "after.bst": "kind: manual\nbuild-depends: [bad.bst]\nconfig:\n  build-commands: ['true']\n",
            "good.bst": "kind: manual\nbuild-depends: [base.bst]\nconfig:\n  install-commands: ['mkdir -p %{install-root}/ok']\n",
            "all.bst": "kind: stack\ndepends: [after.bst, good.bst]\n",
        ])
        var options = BuildOptions()
        options.keepGoing = true
        options.remoteJobs = 1
        let (summary, _, events) = try await h.build(["all.bst"], on: server.url, options: options)
        #expect(summary.failed.map(\.element) == ["bad.bst"])
        #expect(summary.failed.first?.exitCode == 3)
        #expect(summary.failed.first?.message.contains("exit code 7") == true)
        #expect(summary.failed.first?.logTail.contains("about to fail") == true)
        #expect(summary.failed.first?.logTail.contains("+ exit 7") == true)
        #expect(Set(summary.skipped) == ["after.bst", "all.bst"])
        #expect(summary.built.contains("good.bst"))
        #expect(events.contains { $0.kind == .failure && $0.element == "bad.bst" })
        // No artifact is recorded for what failed.
        #expect(try ArtifactStore(store: h.store).all().allSatisfy { $0.element != "bad.bst" })

        // Without --keep-going, nothing starts after the failure.
        options.keepGoing = false
        let fresh = try LocalContentStore(root: h.dir.sub("c2"))
        let (stopped, _, _) = try await h.build(["all.bst"], on: server.url, store: fresh, options: options)
        #expect(stopped.failed.map(\.element) == ["bad.bst"])
        #expect(!stopped.skipped.isEmpty)
    }

    @Test func anOutputEvictedRemotelyIsRebuiltByItsProducer() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let h = try DriverHarness.examples()
        let (first, _, _) = try await h.build(["greetings.bst"], on: server.url)
        #expect(first.failed.isEmpty)
        guard case .file(let hello) = try LocalTree(store: h.store).resolve(first.artifacts["hello.bst"]!.root, path: "usr/bin/hello") else {
            Issue.record("no hello"); return
        }
        server.embedded!.storage.cas.remove(hello.digest)
        // A fresh local cache, so nothing can be answered locally.
        let other = try LocalContentStore(root: h.dir.sub("other"))
        let (second, rpcs, _) = try await h.build(["greetings.bst"], on: server.url, store: other)
        #expect(second.failed.isEmpty, "\(second.failed)")
        #expect(second.built == ["base.bst", "hello.bst"], "built: \(second.built)")
        #expect(second.cached == ["greetings.bst"])
        #expect(rpcs["Execute"] == 1)
        #expect(server.embedded!.storage.cas.contains(hello.digest))
    }

    @Test func artifactsArePushedToAnArtifactCacheThatHoldsEveryBlob() async throws {
        let exec = try await TestServer.start(.lazycasServe)
        let cache = try await TestServer.start(.lazycasServe)
        defer { Task { await exec.stop(); await cache.stop() } }
        let h = try DriverHarness.examples()
        let (summary, _, _) = try await h.build(["hello.bst"], on: exec.url, artifactRemote: cache.url)
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        let artifact = summary.artifacts["hello.bst"]!
        try await RemoteConnection.with(DriverHarness.configuration(cache.url)) { connection in
            let root = try await AssetClient(connection: connection).fetchDirectory(uri: ArtifactCache.uri(artifact.refName))
            #expect(root == artifact.root)
            var blobs: [Digest] = [artifact.root]
            try LocalTree(store: h.store).forEachFile(under: artifact.root) { _, f in blobs.append(f.digest) }
            #expect(try await connection.store.findMissing(blobs).isEmpty)
        }
        // The output file blobs went server to server, not through the local cache.
        try LocalTree(store: h.store).forEachFile(under: artifact.root) { path, f in
            #expect(!h.store.contains(f.digest), "\(path) landed locally")
        }
    }

    @Test func anUnreachableServerIsARemoteFailureAndRecordsNothing() async throws {
        let h = try DriverHarness.examples()
        let (summary, _, _) = try await h.build(["hello.bst"], on: "grpc://127.0.0.1:\(freeLoopbackPort())")
        #expect(summary.failed.map(\.element) == ["hello.bst"])
        #expect(summary.failed.first?.exitCode == 2)
        #expect(try ArtifactStore(store: h.store).all().map(\.element) == ["base.bst"])
    }
}
