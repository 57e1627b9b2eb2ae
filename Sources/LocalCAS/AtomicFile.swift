import FoundationEssentials
import Glibc

/// Small files replaced whole: the new content goes to a private temp file beside the target and
/// is `rename(2)`d over it, so a reader sees the old content or the new, never a mix, and
/// concurrent writers leave one of their values whole. Used for refs, action-cache entries,
/// artifact records and stats files.
public enum AtomicFile {
    /// Replaces (or creates) `path` with `data`; the directory must exist.
    /// - Throws: `.io` naming the path when the temp file cannot be written or renamed.
    public static func write(_ data: Data, to path: String) throws(CASError) {
        let tmp = "\(path).tmp.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        guard FileManager.default.createFile(atPath: tmp, contents: data) else {
            throw CASError(.io, "cannot write \(tmp): \(String(cString: strerror(errno)))")
        }
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw CASError(.io, "cannot write \(path): \(reason)")
        }
    }
}
