import Foundation
import GRPCCore
import LocalCAS
import REAPI
import Sandbox
import TestSupport
import Testing

/// What a `Command` means, checked on `lazycas serve` against the reference, `buildbox-casd
/// --buildbox-run`, where that implements the same part of the spec; BuildGrid + `lazycas
/// worker` runs the same actions in `WorkerCLITests`. Every action is a real command in a
/// sandbox.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled), .serialized)
struct CommandSemanticsTests {
    /// Makes an executable file and a directory.
    static let fileAndDirectory = "echo data > f && chmod +x f && mkdir d && echo leaf > d/leaf"
    /// Makes every kind of output: an executable file, a directory, symlinks to both.
    static let everyKind = fileAndDirectory + " && ln -s f lf && ln -s d ld"

    private func run(_ kind: ServerKind, _ action: TestAction,
                     _ body: (Stubs, Build_Bazel_Remote_Execution_V2_ExecuteResponse) async throws -> Void) async throws {
        let server = try await TestServer.start(kind, execution: true)
        try await Stubs.with(server) { s in
            try await action.upload(s)
            let (response, _) = try await execute(s, action.actionDigest)
            try await body(s, response)
        }
        await server.stop()
    }

    /// A missing output is no error, the executable bit comes back; for v2.1 clients and (on
    /// serve: buildbox-casd's lowest API version is 2.1, and it ignores v2.0 output lists) v2.0.
    @Test(arguments: ServerKind.allCases)
    func filesAndDirectoriesAsTheReferenceHasThem(_ kind: ServerKind) async throws {
        var actions = [try TestAction(script: Self.fileAndDirectory, outputs: ["f", "d", "missing"])]
        if kind == .lazycasServe {
            actions.append(try TestAction(script: Self.fileAndDirectory, legacyOutputs: (files: ["f", "missing"], directories: ["d", "gone"])))
        }
        for action in actions {
            try await run(kind, action) { s, response in
                #expect(response.status.code == 0, "\(response.status.message)")
                #expect(response.result.outputFiles.map(\.path) == ["f"], "\(response.result)")
                #expect(response.result.outputFiles.first?.isExecutable == true)
                #expect(response.result.outputDirectories.map(\.path) == ["d"])
                if let d = response.result.outputDirectories.first {
                    let tree = try Build_Bazel_Remote_Execution_V2_Tree(serializedBytes: try await blob(s, d.treeDigest))
                    #expect(tree.root.files.map(\.name) == ["leaf"])
                }
            }
        }
    }

    /// (buildbox-run fails an action with a symlink among its outputs: INTERNAL.)
    @Test func v21OutputPathsTakeSymlinksToo() async throws {
        let kind = ServerKind.lazycasServe
        let action = try TestAction(script: Self.everyKind, outputs: ["f", "d", "lf", "ld", "missing"])
        try await run(kind, action) { s, response in
            #expect(response.status.code == 0, "\(response.status.message)")
            let result = response.result
            #expect(result.outputFiles.map(\.path) == ["f"])
            #expect(result.outputFiles.first?.isExecutable == true)
            #expect(result.outputDirectories.map(\.path) == ["d"])
            #expect(Dictionary(uniqueKeysWithValues: result.outputSymlinks.map { ($0.path, $0.target) }) == ["lf": "f", "ld": "d"])
            let data = try await blob(s, result.outputFiles.first?.digest ?? .init())
            #expect(data == Data("data\n".utf8))
        }
    }

    @Test func v20OutputFilesAndDirectoriesListTheirSymlinksApart() async throws {
        let kind = ServerKind.lazycasServe
        let action = try TestAction(script: Self.everyKind, legacyOutputs: (files: ["f", "lf", "missing"], directories: ["d", "ld"]))
        try await run(kind, action) { _, response in
            #expect(response.status.code == 0, "\(response.status.message)")
            let result = response.result
            #expect(result.outputFiles.map(\.path) == ["f"])
            #expect(result.outputDirectories.map(\.path) == ["d"])
            #expect(result.outputFileSymlinks.map(\.path) == ["lf"])
            #expect(result.outputDirectorySymlinks.map(\.path) == ["ld"])
            #expect(result.outputSymlinks.count == 2, "and in the v2.1 field")
        }
    }

    @Test func aV20OutputOfTheOtherKindIsFailedPrecondition() async throws {
        for (files, directories) in [(["d"], [String]()), ([], ["f"])] {
            let action = try TestAction(script: Self.everyKind, legacyOutputs: (files: files, directories: directories))
            try await run(.lazycasServe, action) { s, response in
                #expect(response.status.code == Int32(RPCError.Code.failedPrecondition.rawValue), "\(files) \(directories)")
                #expect(response.status.message.contains(files.isEmpty ? "output directory 'f' is a file" : "output file 'd' is a directory"),
                        "\(response.status.message)")
                var get = Build_Bazel_Remote_Execution_V2_GetActionResultRequest()
                get.actionDigest = action.actionDigest.proto
                #expect(await statusCode { _ = try await s.actionCache.getActionResult(get) } == .notFound, "not cached")
            }
        }
    }

    @Test(arguments: ServerKind.allCases)
    func theWorkingDirectoryAndTheEnvironmentAreTheCommands(_ kind: ServerKind) async throws {
        let action = try TestAction(script: "pwd > out.txt && echo \"$ALPHA|$BETA\" >> out.txt && cat here.txt >> out.txt",
                                    outputs: ["out.txt"], files: ["sub/dir/here.txt": "here\n"], workingDirectory: "sub/dir",
                                    environment: [("ALPHA", "one"), ("BETA", "two words")])
        try await run(kind, action) { s, response in
            let result = response.result
            let stderr = String(decoding: try await blob(s, result.stderrDigest), as: UTF8.self)
            #expect(result.exitCode == 0, "\(stderr)")
            let out = try #require(result.outputFiles.first)
            #expect(out.path == "out.txt", "an output path is relative to the working directory")
            let text = String(decoding: try await blob(s, out.digest), as: UTF8.self).split(separator: "\n")
            #expect(text.first?.hasSuffix("/sub/dir") == true, "\(text)")
            #expect(Array(text.dropFirst()) == ["one|two words", "here"])
        }
    }

    /// BuildStream asks for `mtime` when it builds a workspace (incrementally).
    @Test func outputNodePropertiesAreRecordedWhenAsked() async throws {
        let script = "echo x > f && chmod 640 f && touch -d @1234567890 f && mkdir d && echo y > d/g && touch -d @1234567890 d/g"
        for asked in [["mtime", "unix_mode"], []] {
            let action = try TestAction(script: script, outputs: ["f", "d"], outputNodeProperties: asked)
            try await run(.lazycasServe, action) { s, response in
                #expect(response.result.exitCode == 0)
                let file = try #require(response.result.outputFiles.first)
                let directory = try #require(response.result.outputDirectories.first)
                let tree = try Build_Bazel_Remote_Execution_V2_Tree(serializedBytes: try await blob(s, directory.treeDigest))
                let inner = try #require(tree.root.files.first)
                if asked.isEmpty {
                    #expect(!file.hasNodeProperties && !inner.hasNodeProperties, "nothing recorded unless asked")
                } else {
                    #expect(file.nodeProperties.mtime.seconds == 1_234_567_890)
                    #expect(file.nodeProperties.unixMode.value == 0o640)
                    #expect(inner.nodeProperties.mtime.seconds == 1_234_567_890, "inside output directories too")
                }
            }
        }
    }

    @Test func platformPropertiesNoWorkerOffersAreFailedPrecondition() async throws {
        let unknown = try TestAction(script: "true", platform: [("gpu", "a100")])
        try await run(.lazycasServe, unknown) { _, response in
            #expect(response.status.code == Int32(RPCError.Code.failedPrecondition.rawValue))
            #expect(response.status.message.contains("gpu=a100"), "\(response.status.message)")
        }
        let windows = try TestAction(script: "true", platform: [("OSFamily", "windows")])
        try await run(.lazycasServe, windows) { _, response in
            #expect(response.status.code == Int32(RPCError.Code.failedPrecondition.rawValue))
        }
        // What BuildStream sends with every action runs.
        let buildStream = try TestAction(script: "echo ran > out.txt", outputs: ["out.txt"],
                                         platform: [("ISA", PlatformOffer.host.properties.first { $0.name == "ISA" }!.value), ("OSFamily", "Linux"), ("network", "off"),
                                                    ("unixGID", "0"), ("unixUID", "0")])
        try await run(.lazycasServe, buildStream) { _, response in
            #expect(response.status.code == 0, "\(response.status.message)")
            #expect(response.result.exitCode == 0)
        }
    }

    @Test(arguments: ServerKind.allCases)
    func doNotCacheRunsEveryTimeAndIsNeverCached(_ kind: ServerKind) async throws {
        let action = try TestAction(script: "head -c 16 /dev/urandom | od -An -tx1 > out.txt", outputs: ["out.txt"], doNotCache: true)
        let server = try await TestServer.start(kind, execution: true)
        try await Stubs.with(server) { s in
            try await action.upload(s)
            let (first, _) = try await execute(s, action.actionDigest)
            let (second, _) = try await execute(s, action.actionDigest)
            #expect(!second.cachedResult)
            #expect(first.result.outputFiles.first?.digest != second.result.outputFiles.first?.digest, "it ran twice")
            var get = Build_Bazel_Remote_Execution_V2_GetActionResultRequest()
            get.actionDigest = action.actionDigest.proto
            #expect(await statusCode { _ = try await s.actionCache.getActionResult(get) } == .notFound)
        }
        await server.stop()
    }

    /// (buildbox-casd inlines nothing, which REAPI allows.)
    @Test func getActionResultInlinesWhatIsAskedFor() async throws {
        let kind = ServerKind.lazycasServe
        let action = try TestAction(script: "echo out && echo err >&2 && echo small > f && echo other > g", outputs: ["f", "g"])
        try await run(kind, action) { s, response in
            #expect(response.result.exitCode == 0)
            var get = Build_Bazel_Remote_Execution_V2_GetActionResultRequest()
            get.actionDigest = action.actionDigest.proto
            get.inlineStdout = true
            get.inlineStderr = true
            get.inlineOutputFiles = ["f"]
            let cached = try await s.actionCache.getActionResult(get)
            #expect(cached.stdoutRaw == Data("out\n".utf8))
            #expect(cached.stderrRaw == Data("err\n".utf8))
            #expect(cached.outputFiles.first { $0.path == "f" }?.contents == Data("small\n".utf8))
            #expect(cached.outputFiles.first { $0.path == "g" }?.contents.isEmpty == true, "only what was asked for")
        }
    }

    @Test(arguments: ServerKind.allCases)
    func capabilitiesCoverTheVersionsBazelAndBuildStreamAskFor(_ kind: ServerKind) async throws {
        let server = try await TestServer.start(kind, execution: true)
        try await Stubs.with(server) { s in
            let caps = try await s.capabilities.getCapabilities(Build_Bazel_Remote_Execution_V2_GetCapabilitiesRequest())
            func version(_ v: Build_Bazel_Semver_SemVer) -> (Int32, Int32) { (v.major, v.minor) }
            #expect(version(caps.lowApiVersion) <= (kind == .lazycasServe ? (2, 0) : (2, 1)), "serve takes v2.0 clients")
            #expect(version(caps.highApiVersion) >= (2, 2), "Bazel 4.2 speaks 2.0 to 2.2")
            #expect(caps.executionCapabilities.execEnabled)
            #expect(caps.executionCapabilities.digestFunction == .sha256)
        }
        await server.stop()
    }
}
