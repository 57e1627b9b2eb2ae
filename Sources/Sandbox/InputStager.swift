import Foundation
import Glibc
import LocalCAS

/// Materializes a tree from the local CAS as a plain directory, for an action to run in.
///
/// Regular files are hard links to the CAS's own files (no bytes copied) when that is safe:
/// the CAS files are read-only and owned by us, so a sandbox running as another user (see
/// ``SandboxUser``) cannot change them. When the sandbox runs as our own user it could chmod
/// a link and corrupt the CAS, so files are copied then; executables are always copied,
/// because a link shares the CAS file's mode and CAS files are not executable. Directories are
/// created writable by the sandbox user (actions write their outputs next to their inputs).
///
/// Every file has one fixed mtime, ``LocalContentStore/blobMTime`` (a link shares the blob
/// file's, which is that), or the `mtime` of its `NodeProperties` when the client sent one (such
/// a file is copied, since a link cannot have an mtime of its own).
public struct InputStager: Sendable {
    public let store: LocalContentStore
    /// Owner for staged directories; nil keeps ours.
    public let owner: SandboxUser?

    public init(store: LocalContentStore, owner: SandboxUser?) {
        self.store = store
        self.owner = owner
    }

    /// What staging did, for logs and benchmarks.
    public struct Summary: Sendable {
        public var directories = 0
        public var linked = 0
        public var copied = 0
    }

    /// Stages the tree `root` at `path`, which must not exist yet.
    /// - Throws: `.notFound` for a Directory node or blob that is not local.
    public func stage(_ root: Digest, at path: String) throws(CASError) -> Summary {
        var summary = Summary()
        try stage(root, at: path, summary: &summary)
        return summary
    }

    private func stage(_ digest: Digest, at path: String, summary: inout Summary) throws(CASError) {
        let dir = try LocalTree(store: store).directory(digest)
        guard mkdir(path, 0o755) == 0 else { throw Self.error("create directory", path) }
        if let owner { chown(path, owner.uid, owner.gid) }
        summary.directories += 1
        for file in dir.files {
            let dest = path + "/" + file.name.name
            let mtime = file.mtime.map(Self.timespec(of:)) ?? LocalContentStore.blobMTime
            if file.digest == .empty {
                let fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file.isExecutable ? 0o555 : 0o444)
                guard fd >= 0 else { throw Self.error("create", dest) }
                Self.setMTime(fd, mtime)
                close(fd)
                continue
            }
            guard store.contains(file.digest) else {
                throw CASError(.notFound, "blob \(file.digest) of input \(dest) is not in the CAS")
            }
            let source = try store.linkablePath(of: file.digest)
            if owner != nil, !file.isExecutable, file.mtime == nil, link(source, dest) == 0 {
                Self.fixLinkedMTime(dest)
                summary.linked += 1
            } else {
                try Self.copy(source, to: dest, mode: file.isExecutable ? 0o555 : 0o444, mtime: mtime)
                summary.copied += 1
            }
        }
        for symlink in dir.symlinks {
            let dest = path + "/" + symlink.name.name
            guard Glibc.symlink(symlink.target, dest) == 0 else { throw Self.error("create symlink", dest) }
        }
        for sub in dir.directories {
            try stage(sub.digest, at: path + "/" + sub.name.name, summary: &summary)
        }
    }

    static func copy(_ source: String, to dest: String, mode: mode_t, mtime: timespec) throws(CASError) {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw error("open", source) }
        defer { close(input) }
        let output = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard output >= 0 else { throw error("create", dest) }
        defer { close(output) }
        var st = stat()
        fstat(input, &st)
        var remaining = Int(st.st_size)
        while remaining > 0 {
            let n = sendfile(output, input, nil, remaining)
            guard n > 0 else { throw error("copy to", dest) }
            remaining -= n
        }
        setMTime(output, mtime)
    }

    /// Sets the mtime of an open file (its atime is left alone).
    static func setMTime(_ fd: Int32, _ mtime: timespec) {
        var times = [FileTime.omit, mtime]
        futimens(fd, &times)
    }

    /// A link to a blob stored before blob files had ``LocalContentStore/blobMTime``: give the
    /// blob that mtime (it is the same inode; its atime, the eviction clock, is kept).
    static func fixLinkedMTime(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mtim.tv_sec != LocalContentStore.blobMTime.tv_sec || st.st_mtim.tv_nsec != 0 else { return }
        var times = [FileTime.omit, LocalContentStore.blobMTime]
        utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
    }

    static func timespec(of date: Date) -> timespec {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        return Glibc.timespec(tv_sec: Int(seconds), tv_nsec: Int((date.timeIntervalSince1970 - seconds) * 1e9))
    }

    static func error(_ what: String, _ path: String) -> CASError {
        CASError(.io, "cannot \(what) \(path): \(String(cString: strerror(errno)))")
    }
}

/// The unprivileged user an action runs as, so that it cannot modify what it does not own.
public struct SandboxUser: Sendable, Hashable {
    public var uid: uid_t
    public var gid: gid_t

    public init(uid: uid_t, gid: gid_t) {
        self.uid = uid
        self.gid = gid
    }

    /// `nobody` (65534), when we are root and can switch to it; nil otherwise.
    public static var nobodyIfRoot: SandboxUser? {
        geteuid() == 0 ? SandboxUser(uid: 65534, gid: 65534) : nil
    }
}
