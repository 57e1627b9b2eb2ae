import Foundation
import GRPCCore
import GRPCProtobuf
import LocalCAS
import REAPI
import RemoteCAS
import SwiftProtobuf
import TestSupport
import Testing

/// An action for the tests: an input root holding a static busybox as `bin/sh`, plus files.
struct TestAction {
    let dir = TemporaryDirectory("action")
    let store: LocalContentStore
    var inputRoot: Digest
    var blobs: [Digest: Blob]
    var actionDigest: Digest

    /// - Parameters:
    ///   - outputs: v2.1 `output_paths`; `legacyOutputs` (v2.0 files, directories) instead when given.
    ///   - environment: the Command's variables (PATH=/bin:/usr/bin is always first).
    ///   - platform: the Command's platform properties (`hostTools` adds lazycas.host-tools=true).
    init(script: String, outputs: [String] = [], legacyOutputs: (files: [String], directories: [String])? = nil,
         files: [String: String] = [:], timeout: Int64 = 0,
         hostTools: Bool = false, workingDirectory: String = "", skipUploading: Set<String> = [],
         symlinks: [String: String] = [:], environment: [(String, String)] = [], platform: [(String, String)] = [],
         doNotCache: Bool = false, outputNodeProperties: [String] = []) throws {
        store = try LocalContentStore(root: dir.sub("cache"))
        let root = dir.sub("root")
        var fixture = TreeFixture(root: root)
        for (path, content) in files { fixture.write(path, Data(content.utf8)) }
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: root + "/bin/busybox")
        try FileManager.default.createSymbolicLink(atPath: root + "/bin/sh", withDestinationPath: "busybox")
        for (path, target) in symlinks { try FileManager.default.createSymbolicLink(atPath: root + "/" + path, withDestinationPath: target) }
        let tree = try TreeImporter(store: store, storeFiles: true).importDirectory(at: root)
        inputRoot = tree.root
        blobs = tree.directories.mapValues { .bytes($0) }
        for (d, p) in tree.files where !skipUploading.contains(String(p.dropFirst(root.count + 1))) { blobs[d] = .path(p) }
        var command = Build_Bazel_Remote_Execution_V2_Command()
        command.arguments = ["/bin/sh", "-c", script]
        if let legacyOutputs {
            command.outputFiles = legacyOutputs.files
            command.outputDirectories = legacyOutputs.directories
        } else {
            command.outputPaths = outputs
        }
        command.workingDirectory = workingDirectory
        command.outputNodeProperties = outputNodeProperties
        command.environmentVariables = ([("PATH", "/bin:/usr/bin")] + environment).map { name, value in
            var variable = Build_Bazel_Remote_Execution_V2_Command.EnvironmentVariable()
            variable.name = name
            variable.value = value
            return variable
        }
        command.platform.properties = ((hostTools ? [("lazycas.host-tools", "true")] : []) + platform).map { name, value in
            var property = Build_Bazel_Remote_Execution_V2_Platform.Property()
            property.name = name
            property.value = value
            return property
        }
        let commandData = try command.serializedData()
        var action = Build_Bazel_Remote_Execution_V2_Action()
        action.commandDigest = Digest(data: commandData).proto
        action.inputRootDigest = inputRoot.proto
        if timeout > 0 { action.timeout.seconds = timeout }
        action.doNotCache = doNotCache
        let actionData = try action.serializedData()
        actionDigest = Digest(data: actionData)
        blobs[Digest(data: commandData)] = .bytes(commandData)
        blobs[actionDigest] = .bytes(actionData)
    }

    func upload(_ s: Stubs) async throws {
        _ = try await s.connection.store.upload(blobs)
    }
}

/// Runs Execute and returns the final response (and how many operation states came back).
func execute(_ s: Stubs, _ action: Digest, skipCache: Bool = false) async throws -> (Build_Bazel_Remote_Execution_V2_ExecuteResponse, [Google_Longrunning_Operation]) {
    var request = Build_Bazel_Remote_Execution_V2_ExecuteRequest()
    request.actionDigest = action.proto
    request.skipCacheLookup = skipCache
    let operations = try await s.execution.execute(request) { response in
        var all: [Google_Longrunning_Operation] = []
        for try await op in response.messages { all.append(op) }
        return all
    }
    guard let last = operations.last, last.done else { throw TestSupportError("Execute ended without a done operation") }
    return (try Build_Bazel_Remote_Execution_V2_ExecuteResponse(unpackingAny: last.response), operations)
}

func blob(_ s: Stubs, _ digest: Build_Bazel_Remote_Execution_V2_Digest) async throws -> Data {
    try await readAll(s, readRequest(try Digest(digest).resource))
}

/// Execution on `lazycas serve`: real commands in bubblewrap.
@Suite(.serialized)
struct ExecutionTests {
    @Test func aCommandsFilesDirectoriesAndLogsComeBack() async throws {
        let server = try await TestServer.start(.lazycasServe)
        let action = try TestAction(script: "mkdir -p out/d && cat in.txt > out/f && echo nested > out/d/g && echo to-stdout && echo to-stderr >&2",
                                    outputs: ["out/f", "out/d", "out/missing"], files: ["in.txt": "input\n"])
        try await Stubs.with(server) { s in
            try await action.upload(s)
            let (response, operations) = try await execute(s, action.actionDigest)
            #expect(response.status.code == 0)
            #expect(!response.cachedResult)
            #expect(operations.count >= 2, "at least one progress state before the final one")
            let result = response.result
            let stderr = String(decoding: try await blob(s, result.stderrDigest), as: UTF8.self)
            #expect(result.exitCode == 0, "stderr: \(stderr)")
            #expect(result.outputFiles.map(\.path) == ["out/f"])
            #expect(try await blob(s, result.outputFiles[0].digest) == Data("input\n".utf8))
            #expect(try await blob(s, result.stdoutDigest) == Data("to-stdout\n".utf8))
            #expect(stderr == "to-stderr\n")
            let dir = try #require(result.outputDirectories.first)
            #expect(dir.path == "out/d")
            #expect(dir.hasRootDirectoryDigest, "root_directory_digest is filled as well as tree_digest")
            let tree = try Build_Bazel_Remote_Execution_V2_Tree(serializedBytes: try await blob(s, dir.treeDigest))
            #expect(Digest(data: try tree.root.serializedData()).proto == dir.rootDirectoryDigest)
            #expect(tree.root.files.map(\.name) == ["g"])
            #expect(try await blob(s, tree.root.files[0].digest) == Data("nested\n".utf8))
        }
        await server.stop()
    }

    /// Bazel's genrules write `bazel-out/…/out.txt` into directories its input roots lack.
    @Test func theDirectoriesLeadingToOutputsAreCreatedAndASymlinkInTheWayIsRefused() async throws {
        let server = try await TestServer.start(.lazycasServe)
        let action = try TestAction(script: "echo made > bazel-out/k8-fastbuild/bin/out_0.txt && mkdir gen/tree && echo leaf > gen/tree/leaf",
                                    outputs: ["bazel-out/k8-fastbuild/bin/out_0.txt", "gen/tree"])
        let escape = try TestAction(script: "echo x > up/out.txt", outputs: ["up/out.txt"], symlinks: ["up": "/tmp"])
        try await Stubs.with(server) { s in
            try await action.upload(s)
            let (response, _) = try await execute(s, action.actionDigest)
            #expect(response.status.code == 0)
            let stderr = String(decoding: try await blob(s, response.result.stderrDigest), as: UTF8.self)
            #expect(response.result.exitCode == 0, "\(stderr)")
            #expect(response.result.outputFiles.map(\.path) == ["bazel-out/k8-fastbuild/bin/out_0.txt"])
            #expect(try await blob(s, response.result.outputFiles[0].digest) == Data("made\n".utf8))
            #expect(response.result.outputDirectories.map(\.path) == ["gen/tree"], "the output directory itself is the action's to make")

            try await escape.upload(s)
            let (refused, _) = try await execute(s, escape.actionDigest)
            #expect(refused.status.code == Int32(RPCError.Code.invalidArgument.rawValue))
            #expect(refused.status.message.contains("'up' is a symlink"), "\(refused.status.message)")
        }
        await server.stop()
    }

    /// A linked input (in.txt) and a copied one (the executable busybox) alike.
    @Test func inputsAreStagedWithBuildStreamsFixedMTime() async throws {
        let server = try await TestServer.start(.lazycasServe)
        let action = try TestAction(script: "stat -c %Y in.txt bin/busybox > out.txt", outputs: ["out.txt"], files: ["in.txt": "input\n"])
        try await Stubs.with(server) { s in
            try await action.upload(s)
            let (response, _) = try await execute(s, action.actionDigest)
            let stderr = String(decoding: try await blob(s, response.result.stderrDigest), as: UTF8.self)
            #expect(response.result.exitCode == 0, "\(stderr)")
            let out = try #require(response.result.outputFiles.first)
            #expect(try await blob(s, out.digest) == Data("1321009871\n1321009871\n".utf8))
        }
        await server.stop()
    }

    @Test func aFailingCommandReportsItsExitCodeAndStderrAndIsNotCached() async throws {
        let server = try await TestServer.start(.lazycasServe)
        let action = try TestAction(script: "echo broken >&2; exit 3")
        try await Stubs.with(server) { s in
            try await action.upload(s)
            let (response, _) = try await execute(s, action.actionDigest)
            #expect(response.status.code == 0, "the action ran; its failure is in the result")
            #expect(response.result.exitCode == 3)
            #expect(try await blob(s, response.result.stderrDigest) == Data("broken\n".utf8))
            var get = Build_Bazel_Remote_Execution_V2_GetActionResultRequest()
            get.actionDigest = action.actionDigest.proto
            #expect(await statusCode { _ = try await s.actionCache.getActionResult(get) } == .notFound)
        }
        await server.stop()
    }

    @Test func aMissingInputIsFailedPreconditionNamingTheBlob() async throws {
        let server = try await TestServer.start(.lazycasServe)
        let action = try TestAction(script: "cat data", files: ["data": "never uploaded\n"], skipUploading: ["data"])
        let absent = Digest(data: Data("never uploaded\n".utf8))
        try await Stubs.with(server) { s in
            try await action.upload(s)
            let (response, _) = try await execute(s, action.actionDigest)
            #expect(response.status.code == Int32(RPCError.Code.failedPrecondition.rawValue))
            let status = try GoogleRPCStatus(serializedBytes: try response.status.serializedData())
            let violations = status.details.compactMap { $0.preconditionFailure }.flatMap(\.violations)
            #expect(violations.map(\.subject) == ["blobs/\(absent.hash)/\(absent.sizeBytes)"])
            #expect(violations.first?.type == "MISSING")
        }
        await server.stop()
    }

    @Test func aSecondIdenticalExecuteIsACacheHitWithoutARun() async throws {
        let server = try await TestServer.start(.lazycasServe)
        // Every run writes fresh random bytes, so identical outputs prove there was no second run.
        let action = try TestAction(script: "head -c 16 /dev/urandom | od -An -tx1 > out.txt", outputs: ["out.txt"])
        try await Stubs.with(server) { s in
            try await action.upload(s)
            let (first, _) = try await execute(s, action.actionDigest)
            let (second, _) = try await execute(s, action.actionDigest)
            #expect(!first.cachedResult)
            #expect(second.cachedResult)
            #expect(second.result.outputFiles == first.result.outputFiles, "the same bytes: no second run")
            let (forced, _) = try await execute(s, action.actionDigest, skipCache: true)
            #expect(!forced.cachedResult)
            #expect(forced.result.outputFiles != first.result.outputFiles, "skip_cache_lookup runs it again")
        }
        await server.stop()
    }

    @Test func aClientThatDisconnectsReattachesWithWaitExecution() async throws {
        let server = try await TestServer.start(.lazycasServe)
        let action = try TestAction(script: "sleep 1; echo finished > out.txt", outputs: ["out.txt"])
        try await Stubs.with(server) { s in
            try await action.upload(s)
            var request = Build_Bazel_Remote_Execution_V2_ExecuteRequest()
            request.actionDigest = action.actionDigest.proto
            // Take the first state and hang up, as a client whose connection broke would.
            let name = try await s.execution.execute(request) { response in
                for try await op in response.messages { return op.name }
                return ""
            }
            #expect(name.hasPrefix("operations/"))
            var wait = Build_Bazel_Remote_Execution_V2_WaitExecutionRequest()
            wait.name = name
            let last = try await s.execution.waitExecution(wait) { response in
                var last = Google_Longrunning_Operation()
                for try await op in response.messages { last = op }
                return last
            }
            #expect(last.done)
            let result = try Build_Bazel_Remote_Execution_V2_ExecuteResponse(unpackingAny: last.response).result
            #expect(try await blob(s, try #require(result.outputFiles.first).digest) == Data("finished\n".utf8))
            wait.name = "operations/unknown"
            #expect(await statusCode { try await s.execution.waitExecution(wait) { r in for try await _ in r.messages {} } } == .notFound)
        }
        await server.stop()
    }

    @Test func anActionCannotMakeTheServerCaptureHostFiles() async throws {
        let server = try await TestServer.start(.lazycasServe)
        // The action swaps its working directory, and a directory on an output's way, for
        // symlinks into the host's /etc; the server must not follow them when capturing.
        let swapWorkDir = try TestAction(script: "cd / && rm -rf /wd && ln -s /etc /wd", outputs: ["passwd"],
                                         files: ["wd/keep": "x"], workingDirectory: "wd")
        let swapParent = try TestAction(script: "ln -s /etc d", outputs: ["d/passwd"])
        try await Stubs.with(server) { s in
            try await swapWorkDir.upload(s)
            try await swapParent.upload(s)
            for action in [swapWorkDir, swapParent] {
                let result = try await execute(s, action.actionDigest).0.result
                #expect(result.exitCode == 0)
                #expect(result.outputFiles.isEmpty, "captured \(result.outputFiles.map(\.path))")
            }
        }
        await server.stop()
    }

    @Test func aTimeoutKillsTheAction() async throws {
        let server = try await TestServer.start(.lazycasServe)
        let action = try TestAction(script: "sleep 60", timeout: 1)
        try await Stubs.with(server) { s in
            try await action.upload(s)
            let started = ContinuousClock.now
            let (response, _) = try await execute(s, action.actionDigest)
            #expect(ContinuousClock.now - started < .seconds(20))
            #expect(response.status.code == Int32(RPCError.Code.deadlineExceeded.rawValue))
        }
        await server.stop()
    }

    @Test func theSandboxSeesNeitherHostFilesNorTheNetwork() async throws {
        let server = try await TestServer.start(.lazycasServe)
        // The server's own port is open on the host's loopback; the sandbox must not reach it.
        let probe = "test ! -e /etc/passwd && test ! -e /usr/bin && test ! -e \(TestEnvironment.packageRoot) && ! wget -q -T 2 -O /dev/null http://127.0.0.1:\(server.port)/"
        let isolated = try TestAction(script: probe)
        let withTools = try TestAction(script: "test -d /usr/bin && ! test -e /etc/passwd", hostTools: true)
        // Inputs are hard links into the server's CAS: the action must not be able to change them.
        let tamper = try TestAction(script: "chmod 666 input 2>/dev/null; echo tampered >> input 2>/dev/null; cat input",
                                    files: ["input": "pristine\n"])
        try await Stubs.with(server) { s in
            try await isolated.upload(s)
            try await withTools.upload(s)
            try await tamper.upload(s)
            #expect(try await execute(s, isolated.actionDigest).0.result.exitCode == 0)
            #expect(try await execute(s, withTools.actionDigest).0.result.exitCode == 0, "lazycas.host-tools binds /usr read-only")
            let tampered = try await execute(s, tamper.actionDigest).0.result
            #expect(try await blob(s, tampered.stdoutDigest) == Data("pristine\n".utf8))
            let stored = try server.embedded!.storage.cas.read(Digest(data: Data("pristine\n".utf8)))
            #expect(stored == Data("pristine\n".utf8), "the CAS copy is untouched")
        }
        await server.stop()
    }
}
