import ArgumentParser
import Driver
import Foundation
import LocalCAS
import Logging
import Mount
import Sandbox

/// The `lazycas` command line.
@main
struct LazyCAS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lazycas",
        abstract: "Look at remote build outputs without downloading them.",
        discussion: """
            lazycas keeps a partial local copy of a REAPI v2 content-addressable store: every \
            Directory node local, file blobs fetched only when something reads them.

            Exit codes: 0 success, 1 bad input (digest, ref, flag, path, project file), 2 remote failure, 3 a build step failed.
            """,
        subcommands: [Cas.self, Ref.self, MountCommand.self, UmountCommand.self, Serve.self, Build.self, SourceCommand.self, ArtifactCommand.self, Checkout.self, Shell.self, WorkerCommand.self, HealServer.self]
    )

    /// Parses, runs, and maps errors to the exit codes the help text promises.
    static func main() async {
        let arguments = GlobalOptions.joiningOptionPairs(Array(CommandLine.arguments.dropFirst()))
        let verbose = arguments.contains("--verbose") || arguments.contains("-v")
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            // A worker's per-action lines are its normal output.
            handler.logLevel = verbose ? .debug : label.hasPrefix("lazycas.worker") ? .info : .warning
            return handler
        }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let code as ExitCode {
            // Already reported (a build's summary says what failed): just the status.
            Foundation.exit(code.rawValue)
        } catch {
            if let (message, status) = described(error) {
                FileHandle.standardError.write(Data("lazycas: error: \(message)\n".utf8))
                Foundation.exit(status)
            }
            if exitCode(for: error) == .success { exit(withError: error) }
            // Usage errors and anything unexpected: exit 1, as documented.
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(1)
        }
    }
}

/// What an error of one of lazycas's domains says, and the exit status it means; nil for
/// anything else (usage errors are ArgumentParser's to print).
private func described(_ error: any Error) -> (message: String, status: Int32)? {
    switch error {
    case let error as CASError: (error.description, error.exitCode)
    case let error as ProjectError: (error.description, 1)
    case let error as MountError: (error.description, 1)
    case let error as SandboxError: (error.description, 1)
    default: nil
    }
}
