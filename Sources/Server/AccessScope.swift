import GRPCCore

/// What a credential of `lazycas serve` may do. Each RPC needs exactly one scope.
public enum AccessScope: String, Sendable, CaseIterable, Comparable {
    /// GetCapabilities, CAS and ByteStream reads, GetActionResult, Remote Asset Fetch.
    case read
    /// Uploads (BatchUpdateBlobs, ByteStream Write), UpdateActionResult, Remote Asset Push.
    case write
    /// Execute and WaitExecution.
    case execute

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// The scope a call of `method` needs; nil for a method this server does not know (only a
    /// credential that grants everything may call it, and it then answers UNIMPLEMENTED).
    public static func required(for method: MethodDescriptor) -> AccessScope? {
        switch (method.service.fullyQualifiedService, method.method) {
        case ("build.bazel.remote.execution.v2.Capabilities", "GetCapabilities"),
             ("build.bazel.remote.execution.v2.ContentAddressableStorage", "FindMissingBlobs"),
             ("build.bazel.remote.execution.v2.ContentAddressableStorage", "BatchReadBlobs"),
             ("build.bazel.remote.execution.v2.ContentAddressableStorage", "GetTree"),
             ("google.bytestream.ByteStream", "Read"),
             ("build.bazel.remote.execution.v2.ActionCache", "GetActionResult"),
             ("build.bazel.remote.asset.v1.Fetch", _):
            return .read
        case ("build.bazel.remote.execution.v2.ContentAddressableStorage", "BatchUpdateBlobs"),
             ("google.bytestream.ByteStream", "Write"),
             ("google.bytestream.ByteStream", "QueryWriteStatus"),
             ("build.bazel.remote.execution.v2.ActionCache", "UpdateActionResult"),
             ("build.bazel.remote.asset.v1.Push", _):
            return .write
        case ("build.bazel.remote.execution.v2.Execution", _):
            return .execute
        default:
            return nil
        }
    }
}
