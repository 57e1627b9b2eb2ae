import FoundationEssentials
import Glibc
import LocalCAS

/// A writable layer over a read-only tree: a kernel overlayfs whose lower layer is the lazy
/// FUSE mount and whose upper layer is a private directory. Writes land in the upper layer
/// (whole files copied up on first write, deletions as whiteouts); the lower tree, and the
/// CAS behind it, never change.
///
/// bubblewrap 0.8 (Debian 12) has no overlay options, so the overlay is mounted here, which
/// needs root (CAP_SYS_ADMIN). Redirects, metacopy and the index are off, so the upper layer
/// holds plain files, whiteouts and opaque directories only (see ``OverlayCapture``); it is
/// volatile (never synced): a session's writes are scratch unless captured, and a capture
/// hashes them into the CAS, which writes its own blobs.
public final class OverlayMount: Sendable {
    public let lower: String
    public let upper: String
    public let merged: String
    let work: String

    /// Mounts the overlay of `lower` at `directory/merged`, with `directory/upper` and
    /// `directory/work` (created, and emptied by ``unmount()``'s caller).
    public init(lower: String, in directory: String) throws(MountError) {
        self.lower = lower
        upper = directory + "/upper"
        work = directory + "/work"
        merged = directory + "/merged"
        // overlayfs splits its options at ',' and lower layers at ':'.
        if let bad = [lower, directory].first(where: { $0.contains(",") || $0.contains(":") }) {
            throw MountError("cannot make an overlay of \(bad): the path contains ',' or ':'")
        }
        for dir in [upper, work, merged] {
            guard mkdir(dir, 0o755) == 0 || errno == EEXIST else {
                throw MountError("cannot create \(dir): \(String(cString: strerror(errno)))")
            }
        }
        let options = "lowerdir=\(lower),upperdir=\(upper),workdir=\(work),redirect_dir=off,metacopy=off,index=off,xino=off"
        // `volatile` (Linux 5.10+): the upper layer is scratch space, so the overlay need not
        // sync it — without it, unmounting syncs the whole filesystem the upper layer is on,
        // which holds the local CAS: every blob a session fetched was flushed to disk before
        // the session could end (~100 ms after a cold read). Older kernels refuse the option.
        guard Glibc.mount("overlay", merged, "overlay", 0, options + ",volatile") == 0
            || Glibc.mount("overlay", merged, "overlay", 0, options) == 0 else {
            let reason = String(cString: strerror(errno))
            throw MountError("cannot mount an overlay on \(lower): \(reason)\(getuid() != 0 ? " (the writable layer needs root)" : "")")
        }
    }

    /// Detaches the overlay (lazily: a process still inside cannot keep it busy).
    public func unmount() {
        umount2(merged, Int32(MNT_DETACH))
    }
}
