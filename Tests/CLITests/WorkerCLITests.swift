import Foundation
import Glibc
import GRPCCore
import LocalCAS
import REAPI
import RemoteCAS
import Synchronization
import TestSupport
import Testing

/// `lazycas worker` with the real pieces: a private PostgreSQL + BuildGrid 0.4.4 on loopback,
/// worker processes of the built binary, and `lazycas build` / BuildStream as clients.
@Suite(.serialized, .enabled(if: TestEnvironment.buildGridTestsEnabled && TestEnvironment.fuseTestsEnabled))
struct WorkerCLITests {
    let cli = CLI()

    /// Starts a cluster and the named workers, runs `body`, and always stops them all.
    /// `extra` arguments go to every worker, `perWorker[NAME]` to that one.
    func withCluster(workers names: [String], capacity: Int = 1, extra: [String] = [], perWorker: [String: [String]] = [:],
                     _ body: (BuildGridCluster, [WorkerProcess], TemporaryDirectory) async throws -> Void) async throws {
        let cluster = try await BuildGridCluster.start()
        let dir = TemporaryDirectory("workers")
        var workers: [WorkerProcess] = []
        do {
            for name in names {
                workers.append(try await WorkerProcess.start(name, cluster: cluster, in: dir, capacity: capacity,
                                                             extra: extra + perWorker[name, default: []]))
            }
            for worker in workers {
                let registered = await worker.waitUntil(timeout: .seconds(30)) { $0.counter("sessionsCreated") >= 1 }
                #expect(registered, "\(worker.name) did not register:\n\(worker.log)\n\(cluster.log)")
            }
            try await body(cluster, workers, dir)
        } catch {
            for worker in workers { await worker.stop() }
            await cluster.stop()
            throw error
        }
        for worker in workers { await worker.stop() }
        await cluster.stop()
    }

    @Test func twoWorkersBuildTheExamplesAndASecondBuildIsAllCacheHits() async throws {
        try await withCluster(workers: ["worker-a", "worker-b"]) { cluster, workers, _ in
            let project = try cli.examples()
            let cli = self.cli
            let build = try await offPool {
                try cli.run(["build", "world.bst", "--exec-remote", cluster.url, "--instance", "main"], in: project)
            }
            #expect(build.status == 0, "\(build.stderr)\n\(workers.map(\.log).joined(separator: "\n"))")
            #expect(build.stderr.contains("Elements:  5: 5 built, 0 cached"), "\(build.stderr)")
            #expect(build.stderr.contains("Execute 3"), "\(build.stderr)")
            // hello and docs are ready at once and each worker takes one lease at a time.
            let completed = workers.map { $0.counter("leasesCompleted") }
            #expect(completed.reduce(0, +) == 3, "leases completed: \(completed)")
            #expect(completed.allSatisfy { $0 >= 1 }, "a worker took no lease: \(completed)")

            // A shell in hello.bst's build environment (the input root of the action a lazy
            // worker ran) starts from the access profile that worker shared through the
            // ActionCache: the files the build read.
            let shell = try await offPool {
                try cli.run(["shell", "--build", "hello.bst", "--remote", cluster.url, "--instance", "main", "--", "/bin/true"], in: project)
            }
            #expect(shell.status == 0, "\(shell.stderr)")
            let paths = shell.stderr.firstMatch(of: /the remote shares for this build action \((\d+) paths\)/).flatMap { Int($0.1) } ?? 0
            #expect(paths > 0, "\(shell.stderr)")

            // The outputs are right: the same trees as the embedded server's runner makes.
            let server = try await TestServer.start(.lazycasServe)
            let reference = cli.home.sub("reference-cache")
            let local = try await offPool { try cli.run(["build", "world.bst", "--remote", server.url, "--cache-dir", reference], in: project) }
            await server.stop()
            #expect(local.status == 0, "\(local.stderr)")
            let onGrid = try await offPool { try cli.run(["artifact", "list"], in: project) }
            let onServe = try await offPool { try cli.run(["artifact", "list", "--cache-dir", reference], in: project) }
            // Each line is REF ROOT HOW WHEN: the refs and roots must be the same.
            let refsAndRoots = { (out: String) in out.split(separator: "\n").map { $0.split(separator: " ").prefix(2).joined(separator: " ") }.sorted() }
            #expect(refsAndRoots(onGrid.stdout).count == 5)
            #expect(refsAndRoots(onGrid.stdout) == refsAndRoots(onServe.stdout), "\(onGrid.stdout)\nvs\n\(onServe.stdout)")
            let hello = try await offPool {
                try cli.run(["cas", "cat", "hello.bst", "usr/bin/hello", "--remote", cluster.url, "--instance", "main"], in: project)
            }
            #expect(hello.stdout.contains("hello 1.0"), "\(hello.stdout)\(hello.stderr)")

            let again = try await offPool {
                try cli.run(["build", "world.bst", "--exec-remote", cluster.url, "--instance", "main"], in: project)
            }
            #expect(again.status == 0)
            #expect(again.stderr.contains("0 built, 5 cached"), "\(again.stderr)")
            #expect(!again.stderr.contains("Execute"))
            #expect(workers.map { $0.counter("leasesTaken") }.reduce(0, +) == 3)
        }
    }

    /// Bazel's genrules write into directories their input roots lack (`bazel-out/…`); one
    /// worker stages lazily, the other by copy.
    @Test func bazelBuildsGenrulesThroughBuildGridOnLazycasWorkers() async throws {
        try #require(TestEnvironment.bazelTestsEnabled)
        try await withCluster(workers: ["lazy", "copy"], capacity: 2, extra: ["--platform", "lazycas.host-tools=true"],
                              perWorker: ["copy": ["--stage", "copy"]]) { cluster, workers, _ in
            let workspace = try BazelWorkspace()
            let build = try await workspace.build(["--remote_executor=\(cluster.url)", "--remote_instance_name=\(cluster.instance)"]
                                                   + BazelTests.remoteFlags)
            #expect(build.status == 0, "\(build.output.suffix(3000))\n\(workers.map(\.log).joined(separator: "\n"))")
            #expect(build.processes["remote"] == BazelWorkspace.targets.count, "\(build.output.suffix(1500))")
            #expect(workers.map { $0.counter("leasesCompleted") }.reduce(0, +) == BazelWorkspace.targets.count)
            #expect(workspace.output("a/b/c/deep.txt") == "INPUT\nGENERATED\n")
            #expect(workspace.output("stamp.txt") == "1321009871\n", "inputs are staged with BuildStream's fixed mtime")
        }
    }

    /// `AutotoolsProject` (see `anAutotoolsReleaseTarballBuildsOnLazycasServe`) through BuildGrid
    /// on a lazy worker, whose mount shows every input with one mtime.
    @Test func anAutotoolsReleaseTarballBuildsThroughBuildGridOnALazyWorker() async throws {
        try #require(TestEnvironment.buildStreamTestsEnabled)
        let project = try AutotoolsProject()
        try await withCluster(workers: ["lazy"]) { cluster, workers, dir in
            let endpoint = cluster.url.replacingOccurrences(of: "grpc://", with: "http://")
            let config = try writeBuildStreamConfig(in: dir, remote: endpoint, instance: cluster.instance)
            let (status, log) = try await offPool {
                try runBuildStream(["--config", config, "--directory", project.root, "build", "hello.bst"], work: dir)
            }
            #expect(status == 0, "bst build through BuildGrid failed:\n\(log.suffix(4000))\n\(workers[0].log)")
            #expect(workers[0].counter("leasesCompleted") == 1)
            let checkout = dir.path + "/checkout"
            let (out, outLog) = try await offPool {
                try runBuildStream(["--config", config, "--directory", project.root, "artifact", "checkout", "hello.bst", "--directory", checkout], work: dir)
            }
            #expect(out == 0, "\(outLog.suffix(2000))")
            #expect(try AutotoolsProject.runHello(in: checkout) == AutotoolsProject.greeting + "\n")
        }
    }

    @Test func buildStreamBuildsTheExamplesThroughBuildGridOnLazycasWorkers() async throws {
        try #require(TestEnvironment.buildStreamTestsEnabled)
        try await withCluster(workers: ["worker-a", "worker-b"], capacity: 2) { cluster, workers, dir in
            let project = try cli.examples()
            let endpoint = cluster.url.replacingOccurrences(of: "grpc://", with: "http://")
            let config = try writeBuildStreamConfig(in: dir, remote: endpoint, instance: "main")
            let (status, log) = try await offPool {
                try runBuildStream(["--config", config, "--directory", project, "build", "world.bst"], work: dir)
            }
            #expect(status == 0, "bst build through BuildGrid failed:\n\(log.suffix(3000))\n\(workers.map(\.log).joined(separator: "\n"))")
            let completed = workers.map { $0.counter("leasesCompleted") }.reduce(0, +)
            #expect(completed == 3, "leases completed: \(completed)")
            let checkout = dir.sub("hello-checkout")
            let (out, outLog) = try await offPool {
                try runBuildStream(["--config", config, "--directory", project, "artifact", "checkout", "hello.bst", "--directory", checkout], work: dir)
            }
            #expect(out == 0, "\(outLog.suffix(2000))")
            let hello = try String(contentsOfFile: checkout + "/usr/bin/hello", encoding: .utf8)
            #expect(hello.contains("hello 1.0"))
        }
    }

    /// An input root of 2,000 distinct files in 20 directories, uploaded to BuildGrid's CAS.
    /// `variant` changes every file's content (not its first line): a new version of the root.
    func wideInputRoot(_ dir: TemporaryDirectory, cas: RemoteConnection, variant: UInt8 = 0) async throws -> (root: Digest, store: LocalContentStore) {
        let tree = dir.sub(variant == 0 ? "wide" : "wide-\(variant)"), casPath = dir.sub("client-cas")
        let (root, store, all) = try await offPool { () throws -> (Digest, LocalContentStore, (directories: Set<Digest>, files: Set<Digest>)) in
            for d in 0..<20 {
                try FileManager.default.createDirectory(atPath: "\(tree)/d\(d)", withIntermediateDirectories: true)
                for f in 0..<100 {
                    try Data("file \(d)/\(f)\n".utf8 + Data(repeating: UInt8(f) &+ variant, count: 1000)).write(to: URL(fileURLWithPath: "\(tree)/d\(d)/f\(f)"))
                }
            }
            let store = try LocalContentStore(root: casPath)
            let imported = try TreeImporter(store: store, storeFiles: true).importDirectory(at: tree)
            for (digest, data) in imported.directories { try store.put(data, expecting: digest) }
            return (imported.root, store, try LocalTree(store: store).digests(under: imported.root))
        }
        _ = try await cas.store.upload(Dictionary(uniqueKeysWithValues: (all.directories.union(all.files)).map { ($0, store.source($0)) }))
        return (root, store)
    }

    /// Stores an Action running `arguments` on `root` with the host's tools, uploads it and its
    /// Command, and returns its digest.
    /// `legacyOutputs` are a v2.0 Command's `output_files` and `output_directories`.
    func action(_ arguments: [String], root: Digest, store: LocalContentStore, cas: RemoteConnection,
                legacyOutputs: (files: [String], directories: [String])? = nil) async throws -> Digest {
        var command = Build_Bazel_Remote_Execution_V2_Command()
        command.arguments = arguments
        if let legacyOutputs {
            command.outputFiles = legacyOutputs.files
            command.outputDirectories = legacyOutputs.directories
        }
        for (name, value) in [("OSFamily", "linux"), ("lazycas.host-tools", "true")] {
            var property = Build_Bazel_Remote_Execution_V2_Platform.Property()
            property.name = name
            property.value = value
            command.platform.properties.append(property)
        }
        var action = Build_Bazel_Remote_Execution_V2_Action()
        action.commandDigest = try store.put(try command.serializedBytes()).proto
        action.inputRootDigest = root.proto
        action.platform = command.platform
        let digest = try store.put(try action.serializedBytes())
        let commandDigest = try Digest(action.commandDigest)
        _ = try await cas.store.upload([digest: store.source(digest), commandDigest: store.source(commandDigest)])
        return digest
    }

    func stdout(of response: Build_Bazel_Remote_Execution_V2_ExecuteResponse, cas: RemoteConnection) async throws -> String {
        let digest = try Digest(response.result.stdoutDigest)
        return String(decoding: try await cas.store.data(digest), as: UTF8.self)
    }

    @Test func anActionReadingOneFileOfTwoThousandFetchesOnlyThatFile() async throws {
        try await withCluster(workers: ["lazy"]) { cluster, workers, dir in
            let configuration = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: cluster.url), instance: "main")
            try await RemoteConnection.with(configuration) { connection in
                let cas = connection
                let (root, store) = try await wideInputRoot(dir, cas: cas)  // files written off the pool
                let digest = try await action(["/bin/cat", "d7/f42"], root: root, store: store, cas: cas)
                let response = try await ExecutionClient(connection: cas).execute(digest, timeout: .seconds(120))
                #expect(response.status.code == 0, "\(response.status.message)")
                #expect(response.result.exitCode == 0)
                #expect(try await stdout(of: response, cas: cas).hasPrefix("file 7/42\n"))
                #expect(response.result.executionMetadata.hasInputFetchStartTimestamp)
                #expect(response.result.executionMetadata.hasOutputUploadCompletedTimestamp)
                let record = try #require(workers[0].actions.last, "no action record:\n\(workers[0].log)")
                #expect(record["inputFiles"] as? Int == 2000)
                #expect(record["filesFetched"] as? Int == 1, "\(record)")
                #expect(record["bytesFetched"] as? Int == "file 7/42\n".utf8.count + 1000, "\(record)")
                #expect(record["directoriesFetched"] as? Int == 21, "\(record)")
                #expect(workers[0].log.contains("input root 2000 files"), "\(workers[0].log)")

                // The same kind of action on a copying worker fetches every file first.
                await workers[0].stop()
                let copy = try await WorkerProcess.start("copy", cluster: cluster, in: dir, extra: ["--stage", "copy"])
                defer { copy.signal(SIGKILL) }
                let other = try await action(["/bin/cat", "d7/f43"], root: root, store: store, cas: cas)
                let copied = try await ExecutionClient(connection: cas).execute(other, timeout: .seconds(120))
                #expect(copied.result.exitCode == 0, "\(copied.status.message)\n\(copy.log)")
                #expect(try await stdout(of: copied, cas: cas).hasPrefix("file 7/43\n"))
                let copyRecord = try #require(copy.actions.last, "no action record:\n\(copy.log)")
                #expect(copyRecord["filesFetched"] as? Int == 2000, "\(copyRecord)")
                await copy.stop()
            }
        }
    }

    /// Access profiles shared through BuildGrid's ActionCache (it has no Remote Asset service): a
    /// fresh worker running an action of a shape another worker ran — same Command, an input
    /// root of other contents — has the files that one read before the action asks.
    @Test func aFreshWorkerPrefetchesWhatAnotherWorkerReadForTheSameActionShape() async throws {
        try await withCluster(workers: ["first"]) { cluster, workers, dir in
            let configuration = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: cluster.url), instance: "main")
            try await RemoteConnection.with(configuration) { cas in
                let arguments = ["/bin/cat", "d7/f42", "d3/f1", "d19/f99"]
                let (root, store) = try await wideInputRoot(dir, cas: cas)
                let first = try await ExecutionClient(connection: cas).execute(try await action(arguments, root: root, store: store, cas: cas), timeout: .seconds(120))
                #expect(first.result.exitCode == 0, "\(first.status.message)\n\(workers[0].log)")
                let record = try #require(workers[0].actions.last, "no action record:\n\(workers[0].log)")
                #expect(record["profileSource"] == nil && (record["filesFetched"] as? Int ?? 0) >= 3, "\(record)")
                await workers[0].stop()

                let fresh = try await WorkerProcess.start("fresh", cluster: cluster, in: dir)
                defer { fresh.signal(SIGKILL) }
                let (next, _) = try await wideInputRoot(dir, cas: cas, variant: 7)
                let response = try await ExecutionClient(connection: cas).execute(try await action(arguments, root: next, store: store, cas: cas), timeout: .seconds(120))
                #expect(response.result.exitCode == 0, "\(response.status.message)\n\(fresh.log)")
                #expect(try await stdout(of: response, cas: cas).hasPrefix("file 7/42\n"))
                let second = try #require(fresh.actions.last, "no action record:\n\(fresh.log)")
                #expect(second["profileSource"] as? String == "remote", "\(second)\n\(fresh.log)")
                let profile = try #require(second["profile"] as? [String: Any], "\(second)")
                #expect(profile["prefetchedBlobs"] as? Int == 3 && profile["usedBlobs"] as? Int == 3, "\(profile)")
                #expect(second["filesFetched"] as? Int == 3, "the prefetch fetched the three files, nothing else: \(second)")
                // The name is an ActionCache entry: BuildGrid answered the Remote Asset calls UNIMPLEMENTED.
                let published = workers[0].stats?["rpcs"] as? [String: Int] ?? [:], fetched = fresh.stats?["rpcs"] as? [String: Int] ?? [:]
                #expect(published["UpdateActionResult"] == 1 && fetched["GetActionResult"] == 1, "\(published)\n\(fetched)")
                await fresh.stop()
            }
        }
    }

    /// A connection to the cluster's instance `main`, a client store, and an empty input root
    /// uploaded there, for actions that need nothing but the host's tools.
    func withEmptyRoot(_ cluster: BuildGridCluster, _ dir: TemporaryDirectory,
                       _ body: (RemoteConnection, RemoteConnection, LocalContentStore, Digest) async throws -> Void) async throws {
        let configuration = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: cluster.url), instance: "main")
        try await RemoteConnection.with(configuration) { connection in
            let cas = connection
            let store = try LocalContentStore(root: dir.sub("client-cas"))
            let root = try store.put(try Build_Bazel_Remote_Execution_V2_Directory().serializedBytes())
            _ = try await cas.store.upload([root: store.source(root)])
            try await body(connection, cas, store, root)
        }
    }

    /// The Command semantics of `CommandSemanticsTests` that a lazy worker implements apart from
    /// `lazycas serve` (outputs read from the overlay's capture): v2.0 outputs with their
    /// symlinks listed apart, parents of outputs created, an output of the wrong kind.
    @Test func aLazyWorkerKeepsTheCommandSemantics() async throws {
        try await withCluster(workers: ["lazy"]) { cluster, workers, dir in
            try await withEmptyRoot(cluster, dir) { connection, cas, store, root in
                let script = "echo data > out/f && chmod +x out/f && mkdir out/d && ln -s f out/lf && ln -s d out/ld"
                let good = try await action(["/bin/sh", "-c", script], root: root, store: store, cas: cas,
                                            legacyOutputs: (files: ["out/f", "out/lf", "out/missing"], directories: ["out/d", "out/ld"]))
                let response = try await ExecutionClient(connection: cas).execute(good, timeout: .seconds(120))
                #expect(response.status.code == 0, "\(response.status.message)\n\(workers[0].log)")
                let result = response.result
                let stderr = String(decoding: try await cas.store.data(Digest(result.stderrDigest)), as: UTF8.self)
                #expect(result.exitCode == 0, "\(stderr)")
                #expect(result.outputFiles.map(\.path) == ["out/f"] && result.outputFiles.first?.isExecutable == true)
                #expect(result.outputDirectories.map(\.path) == ["out/d"])
                #expect(result.outputFileSymlinks.map(\.path) == ["out/lf"])
                #expect(result.outputDirectorySymlinks.map(\.path) == ["out/ld"])
                #expect(result.outputSymlinks.count == 2)

                let wrong = try await action(["/bin/sh", "-c", "mkdir out/f"], root: root, store: store, cas: cas,
                                             legacyOutputs: (files: ["out/f"], directories: []))
                let refused = try await ExecutionClient(connection: cas).execute(wrong, timeout: .seconds(120))
                #expect(refused.status.code == Int32(RPCError.Code.failedPrecondition.rawValue), "\(refused.status.message)")
                #expect(refused.status.message.contains("output file 'out/f' is a directory"), "\(refused.status.message)")
            }
        }
    }

    @Test func aLeaseOfAKilledWorkerIsRequeuedAndAnotherWorkerCompletesIt() async throws {
        try await withCluster(workers: ["doomed"]) { cluster, workers, dir in
            try await withEmptyRoot(cluster, dir) { connection, cas, store, root in
                let digest = try await action(["/bin/sh", "-c", "sleep 4; echo survived"], root: root, store: store, cas: cas)
                let execution = Task { try await ExecutionClient(connection: cas).execute(digest, timeout: .seconds(180)) }
                let doomed = workers[0]
                // Killed while the action runs on its mount.
                let running = await doomed.waitUntil(timeout: .seconds(60)) { worker in
                    worker.counter("leasesTaken") == 1
                        && ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").contains(worker.workDirectory + "/actions/")
                }
                #expect(running, "\(doomed.log)")
                doomed.signal(SIGKILL)
                _ = await doomed.waitUntil(timeout: .seconds(10)) { !$0.isRunning }
                let rescuer = try await WorkerProcess.start("rescuer", cluster: cluster, in: dir)
                let response = try await execution.value
                #expect(response.result.exitCode == 0, "\(response.status.message)\n\(rescuer.log)")
                #expect(try await stdout(of: response, cas: cas) == "survived\n")
                #expect(rescuer.counter("leasesCompleted") == 1, "\(rescuer.log)")

                // Restarted on the same work directory, the killed worker clears what it left mounted.
                let again = try await WorkerProcess.start("doomed", cluster: cluster, in: dir)
                let back = await again.waitUntil(timeout: .seconds(30)) { $0.counter("sessionsCreated") == 1 }
                #expect(back, "\(again.log)")
                #expect(again.log.contains("detached the mounts a previous run left"), "\(again.log)")
                await again.stop()
                await rescuer.stop()
            }
        }
    }

    /// Whether any process's command line contains `text` (read from /proc, without blocking).
    static func processRunning(matching text: String) -> Bool {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { $0.allSatisfy(\.isNumber) } ?? []
        return pids.contains { pid in
            FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self).contains(text) } ?? false
        }
    }

    @Test func aCancelledOperationKillsItsActionOnTheWorker() async throws {
        try await withCluster(workers: ["worker"]) { cluster, workers, dir in
            try await withEmptyRoot(cluster, dir) { connection, cas, store, root in
                let marker = "lazycas-cancel-\(UUID().uuidString.prefix(8))"
                let digest = try await action(["/bin/sh", "-c", "sleep 120; echo \(marker)"], root: root, store: store, cas: cas)
                var request = Build_Bazel_Remote_Execution_V2_ExecuteRequest()
                request.instanceName = "main"
                request.actionDigest = digest.proto
                let name = Mutex<String?>(nil)
                let execution = Build_Bazel_Remote_Execution_V2_Execution.Client(wrapping: connection.client)
                let stream = Task {
                    try await execution.execute(request: ClientRequest(message: request)) { response in
                        for try await operation in response.messages { name.withLock { $0 = operation.name } }
                    }
                }
                defer { stream.cancel() }
                let worker = workers[0]
                let running = await worker.waitUntil(timeout: .seconds(60)) { _ in
                    Self.processRunning(matching: marker) && name.withLock { $0 } != nil
                }
                #expect(running, "\(worker.log)")
                var cancel = Google_Longrunning_CancelOperationRequest()
                cancel.name = try #require(name.withLock { $0 })
                _ = try await Google_Longrunning_Operations.Client(wrapping: connection.client).cancelOperation(cancel)
                let cancelled = await worker.waitUntil(timeout: .seconds(30)) { $0.counter("leasesCancelled") == 1 }
                #expect(cancelled, "\(worker.log)")
                #expect(!Self.processRunning(matching: marker), "the cancelled action still runs")
                #expect(worker.counter("leasesCompleted") == 0)
            }
        }
    }

    @Test func workersSurviveABuildGridRestartFailuresReachTheClientAndSIGTERMStopsThem() async throws {
        try await withCluster(workers: ["worker-a", "worker-b"]) { cluster, workers, _ in
            try await cluster.restart()
            // Whatever answers from now on is the new server (the old one's port is closed).
            let before = workers.map { ($0.counter("sessionsCreated"), $0.counter("updatesAnswered")) }
            let project = try cli.examples()
            let cli = self.cli
            let build = try await offPool {
                try cli.run(["build", "world.bst", "--exec-remote", cluster.url, "--instance", "main"], in: project)
            }
            #expect(build.status == 0, "\(build.stderr)\n\(workers.map(\.log).joined(separator: "\n"))\n\(cluster.log)")
            let completed = workers.map { $0.counter("leasesCompleted") }
            #expect(completed.reduce(0, +) == 3,
                    "leases completed: \(completed)\n\(workers.map(\.log).joined(separator: "\n"))")
            // Each worker talks to the new server: it registered again (if BuildGrid forgot its
            // session) or had an update answered (if BuildGrid kept it).
            for (worker, (sessions, answers)) in zip(workers, before) {
                let back = await worker.waitUntil(timeout: .seconds(60)) {
                    $0.counter("sessionsCreated") > sessions || $0.counter("updatesAnswered") > answers
                }
                #expect(back, "\(worker.name) heard nothing from the restarted server:\n\(worker.log)\n\(cluster.log)")
            }

            FileManager.default.createFile(atPath: project + "/elements/broken.bst",
                                           contents: Data("kind: manual\nbuild-depends: [base.bst]\nconfig:\n  build-commands: ['echo nope >&2; exit 4']\n".utf8))
            let failed = try await offPool {
                try cli.run(["build", "broken.bst", "--exec-remote", cluster.url, "--instance", "main"], in: project)
            }
            #expect(failed.status == 3, "\(failed.stderr)")
            #expect(failed.stderr.contains("exit code 4"), "\(failed.stderr)")
            #expect(failed.stderr.contains("nope"), "\(failed.stderr)")

            for worker in workers { worker.signal(SIGTERM) }
            for worker in workers {
                let exited = await worker.waitUntil(timeout: .seconds(20)) { !$0.isRunning }
                #expect(exited, "\(worker.name) ignored SIGTERM:\n\(worker.log)")
                #expect(worker.exitStatus == 0)
                #expect(worker.log.contains("worker stopped: "), "\(worker.log)")
            }
        }
    }
}
