import CFuse
import FoundationEssentials
import Glibc
import LocalCAS
import Synchronization

/// One FUSE mount of a ``LazyFileSystem`` (through a ``FuseFrontEnd``): creates the session,
/// mounts it, runs libfuse's multi-threaded loop on its own threads, and unmounts.
///
/// `fusermount3 -u MOUNTPOINT` or ``unmount()`` end the loop. (libfuse's own signal handlers
/// are not used: its loop threads block signals, so a signal lands on some other thread and the
/// loop, asleep in `sem_wait`, never notices; whoever owns the process calls ``unmount()`` from
/// a `SignalTrap` instead.)
public final class FuseMount: @unchecked Sendable {
    // @unchecked: `session` is set in init and only used by `run` (once) and `unmount`, which
    // libfuse allows from another thread.
    public let mountpoint: String
    private let frontEnd: FuseFrontEnd
    private let session: OpaquePointer

    /// Creates the session and mounts it at `mountpoint`.
    /// - Parameter allowOther: let users other than the mounting one see the tree.
    public init(fs: LazyFileSystem, mountpoint: String, allowOther: Bool = false) throws(MountError) {
        self.mountpoint = mountpoint
        frontEnd = FuseFrontEnd(fs: fs)
        var options = "ro,default_permissions,fsname=lazycas:\(fs.root.hash.prefix(12)),subtype=lazycas"
        if allowOther { options += ",allow_other" }
        // fuse_args wants strdup'd argv with a nil terminator; fuse_opt_free_args frees only
        // what libfuse itself allocated, so free ours afterwards.
        var argv: [UnsafeMutablePointer<CChar>?] = ["lazycas", "-o", options].map { $0.withCString { strdup($0) } } + [nil]
        defer { argv.forEach { free($0) } }
        var args = argv.withUnsafeMutableBufferPointer { buffer in
            fuse_args(argc: Int32(buffer.count - 1), argv: buffer.baseAddress, allocated: 0)
        }
        var ops = FuseOperations.make()
        let userdata = Unmanaged.passUnretained(frontEnd).toOpaque()
        guard let session = fuse_session_new(&args, &ops, MemoryLayout<fuse_lowlevel_ops>.size, userdata) else {
            throw MountError("cannot create a FUSE session (is /dev/fuse available?)")
        }
        fuse_opt_free_args(&args)
        guard fuse_session_mount(session, mountpoint) == 0 else {
            fuse_session_destroy(session)
            throw MountError("cannot mount FUSE at \(mountpoint) (is it an existing, empty, unmounted directory?)")
        }
        self.session = session
        frontEnd.session.withLock { $0 = SessionPointer(raw: session) }
    }

    /// Serves requests until unmounted or signalled; then unmounts and frees the session.
    public func run(threads: UInt32 = 16) {
        _ = cfuse_session_loop_mt(session, threads)
        fuse_session_unmount(session)
        // Reads still waiting on a fetch are answered now, and notices stop, so no Task
        // touches a freed session later.
        frontEnd.failPending()
        frontEnd.session.withLock { $0 = nil }
        fuse_session_destroy(session)
    }

    /// ``run(threads:)`` on a thread of its own (the FUSE loop blocks its threads, so it stays
    /// off Swift's cooperative pool); returns once the mount has ended.
    public func serve() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            BlockingWork.detach {
                self.run()
                done.resume()
            }
        }
    }

    /// Ends ``run(threads:)`` from another thread.
    public func unmount() {
        fuse_session_exit(session)
        // exit alone does not wake a loop blocked reading /dev/fuse; the unmount does.
        _ = try? Mountpoint.detach(mountpoint, lazily: true)
        // Readers blocked on a fetch keep a lazily unmounted connection alive: answer them.
        frontEnd.failPending()
    }
}

/// Mountpoint checks shared by the CLI and tests.
public enum Mountpoint {
    /// Clears a mount left behind by a killed process ("Transport endpoint is not connected").
    /// - Returns: true if a stale mount was found and cleared.
    @discardableResult
    public static func clearStale(_ path: String) -> Bool {
        // statvfs (statfs(2)) always reaches the FUSE daemon (a stat may be answered from the kernel's
        // attribute cache, even for a dead one).
        var fs = statvfs()
        guard statvfs(path, &fs) != 0, errno == ENOTCONN else { return false }
        _ = try? detach(path, lazily: true)
        return true
    }

    /// Unmounts the FUSE mount at `path` with `fusermount3 -u` (which an unprivileged owner of
    /// the mount may run too); `lazily` (`-z`) detaches it even while it is busy.
    /// - Throws: what fusermount3 said, when it failed.
    public static func detach(_ path: String, lazily: Bool) throws(MountError) {
        let (status, message) = try Fusermount.run(["-u"] + (lazily ? ["-z"] : []) + [path])
        guard status == 0 else {
            throw MountError("cannot unmount \(path): \(message)")
        }
    }

    /// Whether something is mounted at `path` (its device differs from its parent's).
    public static func isMounted(_ path: String) -> Bool {
        var st = stat(), parent = stat()
        guard stat(path, &st) == 0, stat(path + "/..", &parent) == 0 else { return errno == ENOTCONN }
        return st.st_dev != parent.st_dev
    }

    /// Checks `path` can be mounted on: an existing, empty, unmounted directory.
    public static func validate(_ path: String) throws(MountError) {
        clearStale(path)
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw MountError("mountpoint \(path) does not exist")
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw MountError("mountpoint \(path) is not a directory")
        }
        if isMounted(path) {
            throw MountError("mountpoint \(path) is busy: something is mounted there (lazycas umount \(path))")
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: path), !entries.isEmpty {
            throw MountError("mountpoint \(path) is not empty")
        }
    }
}
