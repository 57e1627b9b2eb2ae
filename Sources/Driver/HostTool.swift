import Foundation

/// Runs a host program that a source needs (`tar`, `patch`, `git`), as BuildStream's plugins
/// run them, and collects what it printed.
enum HostTool {
    struct Result {
        var status: Int32
        /// stdout and stderr together, trimmed.
        var output: String
    }

    /// Runs `argv` (looked up on PATH) in `directory`; a program that cannot start is status 127.
    static func run(_ argv: [String], in directory: String? = nil, environment: [String: String] = [:]) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = argv
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return Result(status: 127, output: "cannot run \(argv[0]): \(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Result(status: process.terminationStatus, output: output)
    }
}
