import Foundation

/// A small Bazel workspace of genrules, and Debian's Bazel 4.2.3 run on it as a user runs it
/// (`--batch`, so no server outlives the test; a private output root).
///
/// The genrules: `gen` (a file from a source), `deep` (an output three directories down, none of
/// which is in the input root), `cc` (gcc from the host, through `lazycas.host-tools`) and
/// `stamp` (the mtime its input was staged with).
public struct BazelWorkspace: Sendable {
    public let directory: TemporaryDirectory
    public var root: String { directory.sub("ws") }
    private var outputRoot: String { directory.sub("output-root") }

    /// What `bazel build` printed, and how it exited.
    public struct Result: Sendable {
        public var status: Int32
        public var output: String

        /// The counts of Bazel's summary line, e.g. `["remote": 3, "internal": 1]` for
        /// `INFO: 4 processes: 1 internal, 3 remote.`
        public var processes: [String: Int] {
            guard let line = output.split(separator: "\n").last(where: { $0.contains(" processes: ") }),
                  let list = line.split(separator: ":", maxSplits: 2).last else { return [:] }
            var counts: [String: Int] = [:]
            for item in list.trimmingCharacters(in: CharacterSet(charactersIn: " .")).split(separator: ",") {
                let words = item.split(separator: " ", maxSplits: 1)
                if words.count == 2, let n = Int(words[0]) { counts[String(words[1]), default: 0] += n }
            }
            return counts
        }
    }

    public init() throws {
        directory = TemporaryDirectory("bazel")
        let files: [String: String] = [
            "WORKSPACE": "",
            "in.txt": "input\n",
            "hello.c": "#include <stdio.h>\nint main(void) { puts(\"hello from a remote gcc\"); return 0; }\n",
            "BUILD": """
                genrule(name = "gen", srcs = ["in.txt"], outs = ["out_0.txt"],
                        cmd = "cat $(location in.txt) > $@ && echo generated >> $@")
                genrule(name = "deep", srcs = [":gen"], outs = ["a/b/c/deep.txt"],
                        cmd = "tr a-z A-Z < $(location :gen) > $@")
                genrule(name = "cc", srcs = ["hello.c"], outs = ["hello"],
                        cmd = "gcc -o $@ $(location hello.c)")
                genrule(name = "stamp", srcs = ["in.txt"], outs = ["stamp.txt"],
                        cmd = "stat -L -c %Y $(location in.txt) > $@")
                """,
        ]
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for (name, text) in files { try Data(text.utf8).write(to: URL(fileURLWithPath: "\(root)/\(name)")) }
    }

    /// The targets ``build(_:)`` builds, one action each.
    public static let targets = ["//:gen", "//:deep", "//:cc", "//:stamp"]

    /// `bazel build TARGETS FLAGS`.
    public func build(_ flags: [String]) async throws -> Result {
        try await bazel(["build"] + Self.targets + flags)
    }

    /// `bazel clean`: the local outputs and action cache go; the remote ones stay.
    public func clean() async throws {
        let result = try await bazel(["clean"])
        guard result.status == 0 else { throw TestSupportError("bazel clean failed:\n\(result.output)") }
    }

    /// A file under `bazel-bin/`, if it is there.
    public func output(_ path: String) -> String? {
        try? String(contentsOfFile: "\(root)/bazel-bin/\(path)", encoding: .utf8)
    }

    private func bazel(_ arguments: [String]) async throws -> Result {
        let log = directory.path + "/bazel-\(UUID().uuidString.prefix(8)).log"
        let process = try await SpawnedProcess.start(
            ["env", "-C", root, "timeout", "600", TestEnvironment.bazelPath, "--batch", "--output_user_root=\(outputRoot)"] + arguments,
            output: log)
        let status = await process.wait(timeout: .seconds(660)) ?? -1
        return Result(status: status, output: (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}
