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
            if file.digest == .empty {
                let fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, file.isExecutable ? 0o555 : 0o444)
                guard fd >= 0 else { throw Self.error("create", dest) }
                close(fd)
                continue
            }
            guard store.contains(file.digest) else {
                throw CASError(.notFound, "blob \(file.digest) of input \(dest) is not in the CAS")
            }
            let source = store.path(of: file.digest)
            if owner != nil, !file.isExecutable, link(source, dest) == 0 {
                summary.linked += 1
            } else {
                try Self.copy(source, to: dest, mode: file.isExecutable ? 0o555 : 0o444)
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

    static func copy(_ source: String, to dest: String, mode: mode_t) throws(CASError) {
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
