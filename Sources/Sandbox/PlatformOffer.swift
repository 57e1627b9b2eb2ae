import Glibc
import REAPI

/// The platform properties an executor (`lazycas serve`, a `lazycas worker`) offers, and whether
/// an action's requirements are met. REAPI: an action no worker can run is FAILED_PRECONDITION
/// ("no worker being available").
public struct PlatformOffer: Sendable {
    /// What is offered: an action asking for one of these names must ask for its value
    /// (`OSFamily` compared without case).
    public var properties: [(name: String, value: String)]

    /// Asked for by name, honoured whatever the value: `lazycas.host-tools` (the sandbox binds
    /// the host's tools when it is `true`), and what BuildStream sends of every action:
    /// `unixUID`, `unixGID` and `network`.
    public static let acceptedByName: Set<String> = [ActionSpec.hostToolsProperty, "unixUID", "unixGID", "network"]

    public init(_ properties: [(name: String, value: String)]) {
        self.properties = properties
    }

    /// `OSFamily=linux` and this machine's ISA in BuildStream's spelling (`x86-64`, `aarch64`…):
    /// BuildStream asks for both, and BuildGrid matches both by default.
    public static let host: PlatformOffer = {
        var info = utsname()
        uname(&info)
        let machine = withUnsafeBytes(of: &info.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return PlatformOffer([("OSFamily", "linux"), ("ISA", machine.replacingOccurrences(of: "_", with: "-"))])
    }()

    /// Why an action asking for `requested` cannot run here, or nil if it can.
    public func unmet(_ requested: [Build_Bazel_Remote_Execution_V2_Platform.Property]) -> String? {
        for property in requested where !Self.acceptedByName.contains(property.name) {
            let offered = properties.filter { $0.name == property.name }.map(\.value)
            let matches = property.name == "OSFamily"
                ? offered.contains { $0.lowercased() == property.value.lowercased() }
                : offered.contains(property.value)
            if !matches {
                let list = (properties.map { "\($0.name)=\($0.value)" } + Self.acceptedByName.sorted()).joined(separator: ", ")
                return "no worker offers the platform property \(property.name)=\(property.value) (offered: \(list))"
            }
        }
        return nil
    }
}

extension ActionSpec {
    /// The platform properties the Action and its Command ask for.
    public static func requestedPlatform(_ action: Build_Bazel_Remote_Execution_V2_Action,
                                         _ command: Build_Bazel_Remote_Execution_V2_Command) -> [Build_Bazel_Remote_Execution_V2_Platform.Property] {
        command.platform.properties + action.platform.properties
    }
}
