import FoundationEssentials
import Glibc
import Synchronization

/// A file a blob is written to before it is verified: anonymous (`O_TMPFILE`) where the
/// filesystem allows, so nothing is left behind by a crash and publishing is one `linkat` into
/// place (no rename between two directories, which locks both); else a named file in the
/// store's `tmp/`, renamed into place.
struct TemporaryBlobFile: Sendable {
    let fd: Int32
    /// The name of a named temp file; nil for an anonymous one.
    let path: String?

    /// Where messages say the bytes are.
    var description: String { path ?? "an unnamed temp file" }
}

extension LocalContentStore {
    /// Temp file names: this process's id and a counter (no random bytes per blob).
    private static let temporaryNames = Mutex<(pid: Int32, next: UInt64)>((getpid(), 0))
    /// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`), a C macro Swift does not import.
    private static let anonymousFlag: Int32 = 0o20_000_000 | O_DIRECTORY
    /// Set once `O_TMPFILE` has failed here: named temp files from then on.
    private static let anonymousUnsupported = Atomic(false)

    /// Creates a fresh, private temp file opened with `flags` (`O_WRONLY` or `O_RDWR`).
    func createTemporary(flags: Int32) throws(CASError) -> TemporaryBlobFile {
        if !Self.anonymousUnsupported.load(ordering: .relaxed) {
            let fd = open(tmpDir, flags | Self.anonymousFlag | O_CLOEXEC, 0o644)
            if fd >= 0 { return TemporaryBlobFile(fd: fd, path: nil) }
            if errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL { Self.anonymousUnsupported.store(true, ordering: .relaxed) }
        }
        while true {
            let (pid, n) = Self.temporaryNames.withLock { state in
                state.next += 1
                return (state.pid, state.next)
            }
            let path = "\(tmpDir)/blob.\(pid).\(n)"
            let fd = open(path, flags | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if fd >= 0 { return TemporaryBlobFile(fd: fd, path: path) }
            // A file of a dead process that had the same id: take the next name.
            guard errno == EEXIST else {
                throw CASError(.io, "cannot create a temp file in \(tmpDir): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Makes the verified temp `file` (still open) visible as blob `digest`: read-only, its mtime
    /// ``blobMTime`` and its atime now, then linked or renamed into place atomically. The caller
    /// has checked that the content matches `digest`; it still closes `file.fd`.
    func publish(_ file: TemporaryBlobFile, as digest: Digest) throws(CASError) {
        fchmod(file.fd, 0o444)
        var times = [FileTime.now, Self.blobMTime]
        futimens(file.fd, &times)
        let final = path(of: digest)
        try makeShard(of: digest)
        if let path = file.path {
            guard rename(path, final) == 0 else {
                throw CASError(.io, "cannot move blob \(digest) into place: \(String(cString: strerror(errno)))")
            }
            return
        }
        for attempt in 0..<2 {
            if Self.link(file.fd, to: final) { return }
            guard errno == EEXIST else { break }
            // Another writer got there first; a leftover of another size is not the blob.
            if contains(digest) { return }
            if attempt == 0 { unlink(final) }
        }
        let reason = String(cString: strerror(errno))
        if errno != EEXIST { Self.anonymousUnsupported.store(true, ordering: .relaxed) }
        throw CASError(.io, "cannot link blob \(digest) into place: \(reason)")
    }

    /// Gives the unnamed file `fd` the name `path`: through `/proc/self/fd`, else (no /proc)
    /// by `AT_EMPTY_PATH`, which needs `CAP_DAC_READ_SEARCH`.
    private static func link(_ fd: Int32, to path: String) -> Bool {
        if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0 { return true }
        guard errno == ENOENT else { return false }
        return linkat(fd, "", AT_FDCWD, path, 0x1000 /* AT_EMPTY_PATH */) == 0
    }

    /// Removes what a writer that gave up left (nothing, for an anonymous file).
    func discard(_ file: TemporaryBlobFile) {
        if let path = file.path { unlink(path) }
    }

    /// Creates `objects/XX` for `digest` unless it is known to exist.
    private func makeShard(of digest: Digest) throws(CASError) {
        let h = digest.hash.utf8
        let index = Int(Self.hexValue(h.first!)) << 4 | Int(Self.hexValue(h[h.index(after: h.startIndex)]))
        guard !madeShards.withLock({ $0[index] }) else { return }
        let final = path(of: digest)
        try Self.makeDirectory(String(final[..<final.lastIndex(of: "/")!]))
        madeShards.withLock { $0[index] = true }
    }

    private static func hexValue(_ c: UInt8) -> UInt8 {
        c <= 0x39 ? c - 0x30 : c - 0x61 + 10
    }
}
