import REAPI
import Crypto
import FoundationEssentials

/// A validated SHA-256 content digest: 64 lowercase hex characters and a non-negative size.
///
/// A `Digest` is guaranteed not to hold degenerate values: every initialiser validates, so code
/// that holds one trusts it. The textual form is `HASH/SIZE`, as Bazel and BuildBox print it.
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Lowercase hex SHA-256 of the content.
    public let hash: String
    /// Size of the content in bytes.
    public let sizeBytes: Int64

    /// The digest of the empty blob.
    public static let empty = Digest(data: Data())

    /// Validates and wraps a hash and size.
    /// - Throws: ``CASError`` with code `.invalidArgument` naming what is wrong.
    public init(hash: String, sizeBytes: Int64) throws(CASError) {
        guard hash.utf8.count == 64 else {
            throw CASError(.invalidArgument, "digest hash must be 64 hex characters, got \(hash.utf8.count) in '\(hash)'")
        }
        guard hash.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
            throw CASError(.invalidArgument, "digest hash must be lowercase hex [0-9a-f], got '\(hash)'")
        }
        guard sizeBytes >= 0 else {
            throw CASError(.invalidArgument, "digest size must not be negative, got \(sizeBytes)")
        }
        self.hash = hash
        self.sizeBytes = sizeBytes
    }

    /// Parses the `HASH/SIZE` form.
    /// - Throws: ``CASError`` with code `.invalidArgument` naming what is wrong with `text`.
    public init(parsing text: String) throws(CASError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw CASError(.invalidArgument, "malformed digest '\(text)': expected HASH/SIZE")
        }
        guard !parts[1].isEmpty, parts[1].utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let size = Int64(parts[1]) else {
            throw CASError(.invalidArgument, "malformed digest '\(text)': size '\(parts[1])' is not a non-negative integer")
        }
        do {
            try self.init(hash: String(parts[0]), sizeBytes: size)
        } catch {
            throw CASError(.invalidArgument, "malformed digest '\(text)'", cause: error)
        }
    }

    /// Validates a digest received in a protobuf message.
    public init(_ proto: Build_Bazel_Remote_Execution_V2_Digest) throws(CASError) {
        try self.init(hash: proto.hash, sizeBytes: proto.sizeBytes)
    }

    /// The digest of `data`.
    public init(data: some DataProtocol) {
        var hasher = SHA256()
        for region in data.regions { region.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
        self.init(uncheckedHash: hasher.finalize(), size: Int64(data.count))
    }

    /// Builds a digest from a finished hash; the hash is well formed by construction.
    init(uncheckedHash: SHA256.Digest, size: Int64) {
        self.hash = uncheckedHash.hexString
        self.sizeBytes = size
    }

    /// The digest as a protobuf message.
    public var proto: Build_Bazel_Remote_Execution_V2_Digest {
        var d = Build_Bazel_Remote_Execution_V2_Digest()
        d.hash = hash
        d.sizeBytes = sizeBytes
        return d
    }

    public var description: String { "\(hash)/\(sizeBytes)" }

    /// `abcdef12…/SIZE`: enough to tell digests apart in progress lines.
    public var short: String { "\(hash.prefix(8))…/\(sizeBytes)" }

    public static func < (a: Digest, b: Digest) -> Bool {
        (a.hash, a.sizeBytes) < (b.hash, b.sizeBytes)
    }
}

extension SHA256.Digest {
    /// Lowercase hex form of the hash.
    var hexString: String {
        let table: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in self {
            out.append(table[Int(byte >> 4)])
            out.append(table[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Incremental hashing of a blob that arrives in pieces, with the size counted alongside.
public struct DigestBuilder {
    private var hasher = SHA256()
    private var size: Int64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
        size += Int64(bytes.count)
    }

    public mutating func update(_ data: some DataProtocol) {
        for region in data.regions { region.withUnsafeBytes { update($0) } }
    }

    /// The digest of everything passed to `update` so far.
    public func finalize() -> Digest {
        Digest(uncheckedHash: hasher.finalize(), size: size)
    }
}
