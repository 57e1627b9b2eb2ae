import Foundation
import Glibc
import LocalCAS
import REAPI

/// An REAPI action checked and reduced to what running it in the sandbox needs: output paths
/// relative and inside the input root, arguments present, a bounded timeout, and whether it
/// asked for the host's tools. `lazycas serve`'s executor and `lazycas worker` both run actions
/// through this one type, so they accept the same actions and run them the same way.
public struct ActionSpec: Sendable {
    public let command: Build_Bazel_Remote_Execution_V2_Command
    /// Output paths as the Command names them (relative to its working directory), v2.1's
    /// `output_paths` or else the older files + directories.
    public let outputs: [String]
    public let timeout: Duration
    /// The platform asked for the host's /usr, /bin, /lib… (read-only).
    public let hostTools: Bool
    /// What output file nodes record besides content (`output_node_properties`: `mtime`,
    /// `unix_mode`; other names are ignored).
    public var outputNodeProperties: Set<TreeImporter.NodeProperty> {
        Set(command.outputNodeProperties.compactMap(TreeImporter.NodeProperty.init(rawValue:)))
    }

    /// The longest an action may ask to run.
    public static let maxTimeout = Duration.seconds(24 * 3600)
    /// The platform property that asks for the host's tools.
    public static let hostToolsProperty = "lazycas.host-tools"

    /// - Parameter name: how errors name the action (its digest).
    /// - Throws: ``SandboxError`` saying what is wrong with the Command or Action.
    public init(action: Build_Bazel_Remote_Execution_V2_Action, command: Build_Bazel_Remote_Execution_V2_Command,
                name: String, defaultTimeout: Duration) throws(SandboxError) {
        self.command = command
        outputs = command.outputPaths.isEmpty ? command.outputFiles + command.outputDirectories : command.outputPaths
        let inRoot = outputs.map { command.workingDirectory.isEmpty ? $0 : command.workingDirectory + "/" + $0 }
        for path in inRoot + [command.workingDirectory] where path.hasPrefix("/") || OutputCapture.normalized(path) == nil {
            throw SandboxError("path '\(path)' in the Command of action \(name) must be relative and stay inside the input root")
        }
        guard !command.arguments.isEmpty else { throw SandboxError("the Command of action \(name) has no arguments") }
        guard action.timeout.seconds >= 0, action.timeout.nanos >= 0 else {
            throw SandboxError("action \(name) has a negative timeout")
        }
        timeout = action.hasTimeout && (action.timeout.seconds > 0 || action.timeout.nanos > 0)
            ? min(.seconds(min(action.timeout.seconds, Int64(Self.maxTimeout.components.seconds))) + .nanoseconds(Int64(action.timeout.nanos)), Self.maxTimeout)
            : defaultTimeout
        hostTools = Self.requestedPlatform(action, command)
            .contains { $0.name == Self.hostToolsProperty && $0.value == "true" }
    }

    /// The bubblewrap command that runs the action with `root` as `/`.
    public func sandbox(root: String, user: SandboxUser?) -> SandboxCommand {
        SandboxCommand(root: root, workingDirectory: command.workingDirectory, arguments: command.arguments,
                       environment: command.environmentVariables.map { ($0.name, $0.value) },
                       hostTools: hostTools, user: user)
    }

    /// Runs the action in the sandbox rooted at `root`, its stdout and stderr into those files.
    /// Cancelling the calling task kills it.
    /// The mount points bubblewrap makes in the root when they are missing are removed again
    /// (when still empty), so an action that keeps its whole root does not gain them.
    public func run(root: String, user: SandboxUser?, stdout: String, stderr: String) async throws -> ProcessRunner.Outcome {
        let made = SandboxCommand.mountPoints.filter { access(root + "/" + $0, F_OK) != 0 }
        defer { for name in made { rmdir(root + "/" + name) } }
        return try await ProcessRunner.run(sandbox(root: root, user: user).argv(), stdout: stdout, stderr: stderr, timeout: timeout)
    }

    /// Sets `result`'s exit code from `outcome`; for a timeout, returns the DEADLINE_EXCEEDED
    /// status REAPI wants in the response.
    public func record(_ outcome: ProcessRunner.Outcome, in result: inout Build_Bazel_Remote_Execution_V2_ActionResult,
                       name: String) -> Google_Rpc_Status? {
        switch outcome {
        case .exited(let code):
            result.exitCode = code
        case .signalled(let signal):
            result.exitCode = 128 + signal
        case .timedOut:
            result.exitCode = -1
            return Google_Rpc_Status(.deadlineExceeded, "action \(name) timed out after \(timeout) and was killed")
        }
        return nil
    }
}
