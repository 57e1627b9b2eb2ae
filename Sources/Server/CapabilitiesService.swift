import GRPCCore
import REAPI

/// What the server supports: SHA-256 only, batches up to ``ServerLimits/maxBatchBytes``,
/// action cache updates, execution.
struct CapabilitiesService: Build_Bazel_Remote_Execution_V2_Capabilities.SimpleServiceProtocol {
    let limits: ServerLimits
    let executionEnabled: Bool

    func getCapabilities(request: Build_Bazel_Remote_Execution_V2_GetCapabilitiesRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Execution_V2_ServerCapabilities {
        var caps = Build_Bazel_Remote_Execution_V2_ServerCapabilities()
        caps.cacheCapabilities.digestFunctions = [.sha256]
        caps.cacheCapabilities.actionCacheUpdateCapabilities.updateEnabled = true
        caps.cacheCapabilities.maxBatchTotalSizeBytes = limits.maxBatchBytes
        caps.cacheCapabilities.symlinkAbsolutePathStrategy = .allowed
        caps.executionCapabilities.digestFunction = .sha256
        caps.executionCapabilities.digestFunctions = [.sha256]
        caps.executionCapabilities.execEnabled = executionEnabled
        caps.lowApiVersion.major = 2
        caps.highApiVersion.major = 2
        caps.highApiVersion.minor = 3
        return caps
    }
}

/// Sizes the server enforces and advertises.
public struct ServerLimits: Sendable {
    /// `max_batch_total_size_bytes`: the most blob bytes in one BatchUpdateBlobs/BatchReadBlobs.
    public var maxBatchBytes: Int64 = 4 << 20
    /// The largest gRPC message accepted: room for a full batch plus its framing.
    public var maxMessageBytes: Int = 8 << 20
    /// ByteStream Read sends blobs in messages of this size.
    public var readChunkBytes = 1 << 20
    /// GetTree sends at most this many Directory nodes per page unless asked for fewer.
    public var treePageSize = 1000

    public init() {}
}
