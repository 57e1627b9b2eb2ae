import Foundation

/// Runs a host program that a source needs (`tar`, `patch`, `git`), or `bst` itself, and
/// collects what it printed.
enum HostTool {
    struct Result {
        var status: Int32
        /// stdout and stderr together, trimmed.
        var output: String
    }

    /// Runs `argv` (looked up on PATH) in `directory`; a program that cannot start is status 127.
    static func run(_ argv: [String], in directory: String? = nil, environment: [String: String] = [:]) -> Result {
        let pipe = Pipe()
        guard let process = launch(argv, in: directory, environment: environment, stdout: pipe, stderr: pipe) else {
            return Result(status: 127, output: "cannot run \(argv[0])")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Result(status: process.terminationStatus, output: output)
    }

    /// Runs `argv` with its stdout and stderr apart (stderr through a temp file, so neither pipe
    /// fills while the other is read).
    static func runApart(_ argv: [String]) -> (status: Int32, stdout: String, stderr: String) {
        let out = Pipe()
        let errPath = NSTemporaryDirectory() + "lazycas-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).err"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        guard let errors = FileHandle(forWritingAtPath: errPath),
              let process = launch(argv, in: nil, environment: [:], stdout: out, stderr: errors) else {
            return (127, "", "cannot run \(argv[0])")
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let said = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return (process.terminationStatus, String(decoding: data, as: UTF8.self), said)
    }

    /// Starts `argv` with stdin from /dev/null, or nil if it cannot start.
    private static func launch(_ argv: [String], in directory: String?, environment: [String: String],
                               stdout: Any, stderr: Any) -> Process? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return nil
        }
        return process
    }
}
