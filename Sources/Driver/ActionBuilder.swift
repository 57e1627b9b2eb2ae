import Foundation
import LocalCAS
import REAPI
import SwiftProtobuf

/// The REAPI `Command` and `Action` that build a `manual` element on a given input root.
///
/// Everything in them is deterministic (sorted environment, fixed platform, no timestamps), so
/// the Action digest is a cache key: the same element on the same inputs gives the same digest,
/// on any machine, and the ActionCache answers it.
struct ActionBuilder: Sendable {
    /// The platform every action asks for; workers advertise the same property.
    static let platform: [(String, String)] = [("OSFamily", "linux")]

    /// Runs the integration commands of the staged dependencies (at `/`), then each command in
    /// the working directory, as BuildStream does (`sh -e -c CMD`, stopping at the first
    /// failure), echoing each to stderr first so the build log shows what failed. Commands are
    /// passed as arguments, never spliced into the script, so no quoting can go wrong.
    static let runner = """
        dir=$1; install_root=$2; build_root=$3; integrations=$4; shift 4
        mkdir -p "$build_root" "$dir" "$install_root"
        while [ "$integrations" -gt 0 ]; do
          printf '+ %s\\n' "$1" >&2
          (cd / && sh -e -c "$1") || exit $?
          shift; integrations=$((integrations - 1))
        done
        for cmd do
          printf '+ %s\\n' "$cmd" >&2
          (cd "$dir" && sh -e -c "$cmd") || exit $?
        done
        """

    /// A serialized message and its digest.
    struct Blob: Sendable {
        var digest: Digest
        var data: Data

        init(_ message: some SwiftProtobuf.Message) throws(CASError) {
            do {
                data = try message.serializedBytes()
            } catch {
                throw CASError(.io, "cannot serialize \(type(of: message))", cause: error)
            }
            digest = Digest(data: data)
        }
    }

    struct Built: Sendable {
        var command: Blob
        var action: Blob
        /// The output directory in the sandbox, relative to the input root.
        var outputPath: String
    }

    /// - Parameter integration: the integration commands of the dependencies staged at `/`.
    static func build(_ element: ElementDefinition, inputRoot: Digest, integration: [String] = []) throws(CASError) -> Built {
        // A compose element runs only integration commands, at `/`, and keeps the whole root
        // (`.`, as BuildStream asks for it); the others keep their install root.
        let composes = element.kind == .compose
        let directory = composes ? "/" : element.workingDirectory
        let installRoot = composes ? "/" : element.installRoot
        let madeRoot = element.kind.isBuildElement ? element.buildRoot : directory
        let relative = String(installRoot.drop(while: { $0 == "/" }))
        let outputPath = relative.isEmpty ? "." : relative
        var command = Build_Bazel_Remote_Execution_V2_Command()
        command.arguments = ["sh", "-e", "-c", runner, "lazycas-build", directory, installRoot, madeRoot,
                             String(integration.count)] + integration + (composes ? [] : element.commands)
        command.environmentVariables = element.environment.keys.sorted().map { name in
            var variable = Build_Bazel_Remote_Execution_V2_Command.EnvironmentVariable()
            variable.name = name
            variable.value = element.environment[name]!
            return variable
        }
        // Both spellings of the output: v2.1+ servers read output_paths and ignore the rest,
        // older ones (buildbox-casd 1.4) read output_directories.
        command.outputPaths = [outputPath]
        command.outputDirectories = [outputPath]
        command.platform = Self.platformMessage
        let commandBlob = try Blob(command)

        var action = Build_Bazel_Remote_Execution_V2_Action()
        action.commandDigest = commandBlob.digest.proto
        action.inputRootDigest = inputRoot.proto
        action.platform = Self.platformMessage
        return Built(command: commandBlob, action: try Blob(action), outputPath: outputPath)
    }

    static var platformMessage: Build_Bazel_Remote_Execution_V2_Platform {
        var platform = Build_Bazel_Remote_Execution_V2_Platform()
        platform.properties = Self.platform.map { name, value in
            var property = Build_Bazel_Remote_Execution_V2_Platform.Property()
            property.name = name
            property.value = value
            return property
        }
        return platform
    }
}
