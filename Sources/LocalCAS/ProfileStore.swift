import FoundationEssentials
import Glibc

/// ``AccessProfile``s in the local cache (`CACHE/profiles/`), one file per key (named by the
/// key's SHA-256), least recently used dropped first
/// once they take more than ``limit`` bytes. Survives restarts; writes are atomic
/// (``AtomicFile``), so concurrent sessions of one key leave one of their profiles whole.
public struct ProfileStore: Sendable {
    public let directory: String
    /// Bytes the profiles may take together.
    public let limit: Int64

    public static let defaultLimit: Int64 = 64 << 20

    public init(cacheRoot: String, limit: Int64 = Self.defaultLimit) {
        directory = cacheRoot + "/profiles"
        self.limit = limit
    }

    func file(_ key: String) -> String { "\(directory)/\(Digest(data: Data(key.utf8)).hash)" }

    /// The profile of `key`, or nil if there is none (or it is unreadable: a damaged file is
    /// removed, and the next session records afresh). Marks it used.
    public func load(_ key: String) -> AccessProfile? {
        let path = file(key)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let profile = try? AccessProfile(decoding: data) else {
            unlink(path)
            return nil
        }
        utimes(path, nil)
        return profile
    }

    /// Stores `profile` as `key`'s, then drops the least recently used profiles beyond ``limit``.
    public func save(_ profile: AccessProfile, as key: String) throws(CASError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CASError(.io, "cannot create \(directory)", cause: error)
        }
        try AtomicFile.write(profile.encoded(), to: file(key))
        trim(keeping: file(key))
    }

    /// Profiles stored and the bytes they take.
    public var usage: (profiles: Int, bytes: Int64) {
        let files = stored()
        return (files.count, files.reduce(0) { $0 + $1.size })
    }

    private func stored() -> [(path: String, size: Int64, used: Double)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.contains(".tmp.") }.compactMap { name in
            let path = "\(directory)/\(name)"
            var s = stat()
            guard stat(path, &s) == 0 else { return nil }
            return (path, Int64(s.st_size), Double(s.st_mtim.tv_sec) + Double(s.st_mtim.tv_nsec) / 1e9)
        }
    }

    private func trim(keeping newest: String) {
        var files = stored().sorted { $0.used < $1.used }
        var total = files.reduce(0) { $0 + $1.size }
        while total > limit, let oldest = files.first {
            files.removeFirst()
            if oldest.path == newest { continue }
            unlink(oldest.path)
            total -= oldest.size
        }
    }
}
