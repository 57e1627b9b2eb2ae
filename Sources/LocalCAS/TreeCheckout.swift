import FoundationEssentials
import Glibc

/// Writes a tree whose blobs are all local out as a plain directory, safely:
///
/// - every entry is created relative to its parent's open directory descriptor, and directories
///   are entered with `O_NOFOLLOW`, so no symlink (from the tree, or already in the target) is
///   ever followed: a hostile tree cannot write outside the target;
/// - each file and symlink is written under a temporary name in its directory and renamed into
///   place, so an interrupted checkout leaves no half-written file under its final name;
/// - files get the executable bit of their FileNode (0755, else 0644), symlinks keep their
///   target verbatim;
/// - with `hardlink`, non-executable files are hard links to the CAS's (read-only) copies where
///   the filesystem allows, else copies. Executables are always copied: a link would share the
///   CAS file's mode.
public struct TreeCheckout: Sendable {
    public let store: LocalContentStore
    public let hardlink: Bool

    public init(store: LocalContentStore, hardlink: Bool = false) {
        self.store = store
        self.hardlink = hardlink
    }

    /// What a checkout wrote.
    public struct Summary: Sendable, Equatable {
        public var files = 0
        public var bytes: Int64 = 0
        public var hardlinks = 0
        public var symlinks = 0
        public var directories = 0
    }

    /// Writes `root` into the existing directory `target`.
    /// - Throws: `.notFound` for a blob that is not local, `.io` for a write that fails or a
    ///   path in the target that is a symlink where the tree has a directory.
    public func write(_ root: Digest, into target: String) throws(CASError) -> Summary {
        let fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CASError(.io, "cannot open \(target): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var summary = Summary()
        try write(root, at: fd, path: target, summary: &summary)
        return summary
    }

    private func write(_ digest: Digest, at dirfd: Int32, path: String, summary: inout Summary) throws(CASError) {
        let directory = try LocalTree(store: store).directory(digest)
        for file in directory.files {
            try place(file.name.name, in: dirfd, path: path) { tmp throws(CASError) in
                try writeFile(file, as: tmp, in: dirfd, summary: &summary)
            }
        }
        for link in directory.symlinks {
            try place(link.name.name, in: dirfd, path: path) { tmp throws(CASError) in
                guard symlinkat(link.target, dirfd, tmp) == 0 else {
                    throw CASError(.io, "cannot create symlink \(path)/\(link.name): \(String(cString: strerror(errno)))")
                }
                summary.symlinks += 1
            }
        }
        for sub in directory.directories {
            let name = sub.name.name
            if mkdirat(dirfd, name, 0o755) != 0 && errno != EEXIST {
                throw CASError(.io, "cannot create directory \(path)/\(name): \(String(cString: strerror(errno)))")
            }
            let child = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else {
                throw CASError(.io, "cannot enter \(path)/\(name) (a symlink or not a directory?): \(String(cString: strerror(errno)))")
            }
            defer { close(child) }
            summary.directories += 1
            try write(sub.digest, at: child, path: path + "/" + name, summary: &summary)
        }
    }

    /// Creates an entry under a temporary name with `make`, then renames it to `name` (which
    /// replaces a file or symlink there without following it).
    private func place(_ name: String, in dirfd: Int32, path: String, _ make: (String) throws(CASError) -> Void) throws(CASError) {
        let tmp = ".lazycas-tmp.\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        do {
            try make(tmp)
        } catch {
            unlinkat(dirfd, tmp, 0)
            throw error
        }
        guard renameat(dirfd, tmp, dirfd, name) == 0 else {
            let reason = String(cString: strerror(errno))
            unlinkat(dirfd, tmp, 0)
            throw CASError(.io, "cannot write \(path)/\(name): \(reason)")
        }
    }

    private func writeFile(_ file: ValidatedDirectory.File, as tmp: String, in dirfd: Int32, summary: inout Summary) throws(CASError) {
        summary.files += 1
        summary.bytes += file.digest.sizeBytes
        if hardlink, !file.isExecutable, file.digest.sizeBytes > 0,
           let source = try? store.linkablePath(of: file.digest), linkat(AT_FDCWD, source, dirfd, tmp, 0) == 0 {
            summary.hardlinks += 1
            return
        }
        let source = try store.openForReading(file.digest)
        defer { close(source) }
        let out = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, file.isExecutable ? 0o755 : 0o644)
        guard out >= 0 else { throw CASError(.io, "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        defer { close(out) }
        var copied: Int64 = 0
        do {
            try FileDescriptorIO.forEachChunk(fd: source, chunkSize: 1 << 20, path: store.path(of: file.digest)) { chunk in
                try FileDescriptorIO.writeAll(fd: out, chunk, path: tmp)
                copied += Int64(chunk.count)
            }
        } catch {
            throw CASError.wrapping(error, "copying blob \(file.digest)")
        }
        guard copied == file.digest.sizeBytes else {
            throw CASError(.corrupt, "the local copy of blob \(file.digest) has \(copied) bytes")
        }
        // The umask may have cut the mode at creation.
        fchmod(out, file.isExecutable ? 0o755 : 0o644)
    }
}
