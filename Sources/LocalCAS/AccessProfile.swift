import FoundationEssentials
import REAPI

/// The files one kind of lazy session read (a mount or shell of one element or ref, the actions
/// of one shape): paths relative to the tree's root, in the order they were first read, each
/// with how many sessions read it and how many have not read it since. The next session of the
/// same kind resolves the paths in *its* tree (a new version has new digests; paths carry over)
/// and fetches their blobs before it asks for them (`Mount.ProfilePrefetch`).
///
/// Paths fade: a path a session did not read survives as many sessions as it was read in, so a
/// file read once long ago drops out, while one read every time outlasts a few sessions that
/// skip it.
///
/// ### Encoding
/// ``encoded()`` writes `LZP1`, a varint count, then per entry the varints `reads`, `idle`,
/// the length of the prefix shared with the previous path, the length of the rest, and the
/// rest's UTF-8 bytes. Front coding, because a session reads files next to each other (first
/// reads cluster by directory), so most of a path is its predecessor's: 10,000 paths of a
/// typical tree take ~15 bytes each instead of ~60, with no dictionary to share and the order
/// kept (the order *is* the prefetch order). A Bloom filter (Buildbarn's choice for its worker
/// profiles) would be smaller still, but can only answer "was this path read?" for the paths a
/// walk offers it; a lazy mount has no walk to offer it, and needs the paths, in order.
public struct AccessProfile: Sendable, Equatable {
    /// One path of the profile.
    public struct Entry: Sendable, Equatable {
        /// Relative to the tree's root, `/`-separated, every component a valid ``PathComponent``.
        public var path: String
        /// Sessions that read it (saturating).
        public var reads: UInt32
        /// Sessions since the last one that read it.
        public var idle: UInt32

        public init(path: String, reads: UInt32 = 1, idle: UInt32 = 0) {
            self.path = path
            self.reads = reads
            self.idle = idle
        }
    }

    /// First-read order: the latest session's reads first, then older paths still remembered.
    public private(set) var entries: [Entry]

    /// Paths a profile holds at most; the oldest go first.
    public static let maxEntries = 100_000
    /// The largest encoded profile accepted (a profile from the remote is untrusted).
    public static let maxEncodedSize = 16 << 20
    static let magic = Array("LZP1".utf8)

    public init(entries: [Entry] = []) {
        self.entries = Array(entries.prefix(Self.maxEntries))
    }

    public var paths: [String] { entries.map(\.path) }
    public var isEmpty: Bool { entries.isEmpty }

    /// The profile key of an action shape: its Command and platform, not its input root (the
    /// next action of the shape reads the same paths of other contents). Workers record under
    /// it; a shell in an element's build environment reads what the worker that built it read.
    public static func actionKey(command: Digest, platform: Build_Bazel_Remote_Execution_V2_Platform) -> String {
        let properties = platform.properties.map { "\($0.name)=\($0.value)" }.sorted().joined(separator: "\n")
        return "action:\(command)" + (properties.isEmpty ? "" : "/" + Digest(data: Data(properties.utf8)).hash.prefix(16))
    }

    /// This profile after a session that read `session` (relative paths in first-read order):
    /// those first, read once more; then the paths it did not read, one session idler, dropped
    /// once idle for more sessions than they were read in.
    public func merged(with session: [String]) -> AccessProfile {
        var previous: [String: Entry] = [:]
        for entry in entries { previous[entry.path] = entry }
        var merged: [Entry] = []
        var seen = Set<String>()
        for path in session where seen.insert(path).inserted {
            let reads = previous[path].map { $0.reads == .max ? $0.reads : $0.reads + 1 } ?? 1
            merged.append(Entry(path: path, reads: reads, idle: 0))
        }
        for var entry in entries where !seen.contains(entry.path) {
            entry.idle += 1
            if entry.idle <= entry.reads { merged.append(entry) }
        }
        return AccessProfile(entries: merged)
    }

    // MARK: Encoding

    public func encoded() -> Data {
        var out = Data(Self.magic)
        out.appendVarint(UInt64(entries.count))
        var previous: [UInt8] = []
        for entry in entries {
            let bytes = Array(entry.path.utf8)
            var shared = 0
            while shared < min(bytes.count, previous.count), bytes[shared] == previous[shared] { shared += 1 }
            out.appendVarint(UInt64(entry.reads))
            out.appendVarint(UInt64(entry.idle))
            out.appendVarint(UInt64(shared))
            out.appendVarint(UInt64(bytes.count - shared))
            out.append(contentsOf: bytes[shared...])
            previous = bytes
        }
        return out
    }

    /// Decodes and checks an ``encoded()`` profile: every path relative, made of valid
    /// components, no duplicates.
    /// - Throws: `.corrupt` saying what is wrong.
    public init(decoding data: Data) throws(CASError) {
        guard data.count <= Self.maxEncodedSize else {
            throw CASError(.corrupt, "access profile of \(data.count) bytes is larger than \(Self.maxEncodedSize)")
        }
        var reader = VarintReader(bytes: [UInt8](data))
        guard reader.take(Self.magic.count) == Self.magic else { throw CASError(.corrupt, "not an access profile (no LZP1 header)") }
        let count = try reader.varint()
        guard count <= UInt64(Self.maxEntries) else { throw CASError(.corrupt, "access profile claims \(count) paths (at most \(Self.maxEntries))") }
        var entries: [Entry] = []
        entries.reserveCapacity(Int(count))
        var previous: [UInt8] = []
        var seen = Set<String>()
        for index in 0..<Int(count) {
            let reads = try reader.varint(), idle = try reader.varint(), shared = try reader.varint(), rest = try reader.varint()
            guard reads <= UInt32.max, idle <= UInt32.max, shared <= previous.count, let tail = reader.take(Int(clamping: rest)) else {
                throw CASError(.corrupt, "access profile entry \(index) is malformed")
            }
            let bytes = Array(previous[..<Int(shared)]) + tail
            guard let path = String(validating: bytes, as: UTF8.self), Self.isValidPath(path), seen.insert(path).inserted else {
                throw CASError(.corrupt, "access profile entry \(index) is not a relative path of valid names (or a duplicate)")
            }
            entries.append(Entry(path: path, reads: UInt32(reads), idle: UInt32(idle)))
            previous = bytes
        }
        guard reader.atEnd else { throw CASError(.corrupt, "access profile has bytes after its \(count) paths") }
        self.entries = entries
    }

    /// Whether `path` is relative and every component a valid name.
    public static func isValidPath(_ path: String) -> Bool {
        !path.isEmpty && path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy {
            PathComponent.problem(with: String($0)) == nil
        }
    }
}

extension Data {
    /// Appends `value` as a protobuf-style base-128 varint.
    mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        append(UInt8(v))
    }
}

/// Reads what ``Data/appendVarint(_:)`` and raw bytes wrote, never past the end.
struct VarintReader {
    let bytes: [UInt8]
    var offset = 0

    var atEnd: Bool { offset == bytes.count }

    mutating func take(_ count: Int) -> [UInt8]? {
        guard count >= 0, count <= bytes.count - offset else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func varint() throws(CASError) -> UInt64 {
        var value: UInt64 = 0
        for shift in stride(from: 0, to: 64, by: 7) {
            guard offset < bytes.count else { throw CASError(.corrupt, "access profile ends inside a number") }
            let byte = bytes[offset]
            offset += 1
            value |= UInt64(byte & 0x7F) << UInt64(shift)
            if byte < 0x80 { return value }
        }
        throw CASError(.corrupt, "access profile has a number longer than 64 bits")
    }
}
