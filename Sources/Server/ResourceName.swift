import GRPCCore
import LocalCAS

/// A ByteStream resource name, parsed and validated (REAPI v2, "ByteStream API"):
/// - read: `{instance_name}/blobs/{hash}/{size}`
/// - write: `{instance_name}/uploads/{uuid}/blobs/{hash}/{size}{/optional_metadata}`
///
/// The instance name may be empty or have several segments; it cannot contain the reserved
/// segments `blobs`, `uploads`, `actions`, `actionResults`, `operations`, `capabilities` or
/// `compressed-blobs`, so the first `blobs`/`uploads` segment is the one that counts.
/// Compressed blobs are not supported.
struct ResourceName: Sendable, Equatable {
    var instance: String
    var digest: Digest
    /// The upload id of a write resource; nil for reads.
    var upload: String?

    static func parseRead(_ text: String) throws(RPCError) -> ResourceName {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let i = parts.firstIndex(where: { $0 == "blobs" || $0 == "compressed-blobs" }) else {
            throw RPCError(code: .invalidArgument, message: "resource name '\(text)' has no blobs/HASH/SIZE part")
        }
        if parts[i] == "compressed-blobs" {
            throw RPCError(code: .invalidArgument, message: "resource name '\(text)': compressed blobs are not supported (the server advertises no compressors)")
        }
        guard parts.count == i + 3 else {
            throw RPCError(code: .invalidArgument, message: "resource name '\(text)' must end in blobs/HASH/SIZE")
        }
        return ResourceName(instance: parts[..<i].joined(separator: "/"), digest: try digest(parts[i + 1], parts[i + 2], in: text))
    }

    static func parseWrite(_ text: String) throws(RPCError) -> ResourceName {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let u = parts.firstIndex(of: "uploads"), parts.count >= u + 5, !parts[u + 1].isEmpty else {
            throw RPCError(code: .invalidArgument, message: "resource name '\(text)' must look like [INSTANCE/]uploads/UUID/blobs/HASH/SIZE")
        }
        if parts[u + 2] == "compressed-blobs" {
            throw RPCError(code: .invalidArgument, message: "resource name '\(text)': compressed blobs are not supported (the server advertises no compressors)")
        }
        guard parts[u + 2] == "blobs" else {
            throw RPCError(code: .invalidArgument, message: "resource name '\(text)' must look like [INSTANCE/]uploads/UUID/blobs/HASH/SIZE")
        }
        return ResourceName(instance: parts[..<u].joined(separator: "/"),
                            digest: try digest(parts[u + 3], parts[u + 4], in: text), upload: parts[u + 1])
    }

    private static func digest(_ hash: String, _ size: String, in text: String) throws(RPCError) -> Digest {
        do {
            return try Digest(parsing: "\(hash)/\(size)")
        } catch {
            throw RPCError(code: .invalidArgument, message: "resource name '\(text)': \(error.message)")
        }
    }
}
