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

    /// Runs each command as BuildStream does (`sh -c -e CMD` in the build root, stopping at the
    /// first failure), echoing it to stderr first so the build log shows what failed. The commands
    /// are passed as arguments, never spliced into the script, so no quoting can go wrong.
    static let runner = """
        dir=$1; install_root=$2; shift 2
        mkdir -p "$dir" "$install_root"
        for cmd do
          printf '+ %s\\n' "$cmd" >&2
          (cd "$dir" && sh -c -e "$cmd") || exit $?
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

    static func build(_ element: ElementDefinition, inputRoot: Digest) throws(CASError) -> Built {
        let outputPath = String(element.installRoot.drop(while: { $0 == "/" }))
        var command = Build_Bazel_Remote_Execution_V2_Command()
        command.arguments = ["sh", "-e", "-c", runner, "lazycas-build", element.buildRoot, element.installRoot] + element.commands
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
