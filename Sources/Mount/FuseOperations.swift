import CFuse
import Glibc
import Synchronization

/// The `fuse_lowlevel_ops` table: each C callback recovers the ``FuseAdapter`` from the
/// session userdata and forwards. Names are copied into Swift strings before anything else,
/// since the pointers libfuse passes die when the callback returns. Every operation that
/// would change the tree answers EROFS.
enum FuseOperations {
    static func make() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in
            guard let conn, let userdata else { return }
            // Let libfuse splice file data from the CAS file descriptors into /dev/fuse.
            if conn.pointee.capable & UInt32(FUSE_CAP_SPLICE_WRITE) != 0 {
                conn.pointee.want |= UInt32(FUSE_CAP_SPLICE_WRITE)
            }
            let adapter = Unmanaged<FuseAdapter>.fromOpaque(userdata).takeUnretainedValue()
            adapter.kernelSkipsOpendir.store(conn.pointee.capable & UInt32(FUSE_CAP_NO_OPENDIR_SUPPORT) != 0, ordering: .relaxed)
            adapter.kernelSkipsOpen.store(conn.pointee.capable & UInt32(FUSE_CAP_NO_OPEN_SUPPORT) != 0, ordering: .relaxed)
        }
        ops.lookup = { req, parent, name in
            FuseAdapter.from(req).lookup(req, parent, String(cString: name!))
        }
        ops.forget = { req, ino, count in
            FuseAdapter.from(req).fs.inodes.forget(UInt64(ino), count: count)
            fuse_reply_none(req)
        }
        ops.forget_multi = { req, count, forgets in
            let adapter = FuseAdapter.from(req)
            for i in 0..<count {
                adapter.fs.inodes.forget(UInt64(forgets![i].ino), count: forgets![i].nlookup)
            }
            fuse_reply_none(req)
        }
        ops.getattr = { req, ino, _ in FuseAdapter.from(req).getattr(req, ino) }
        ops.readlink = { req, ino in FuseAdapter.from(req).readlink(req, ino) }
        ops.open = { req, ino, fi in FuseAdapter.from(req).open(req, ino, fi!) }
        ops.read = { req, ino, size, offset, _ in FuseAdapter.from(req).read(req, ino, size, offset) }
        ops.release = { req, _, _ in fuse_reply_err(req, 0) }
        ops.opendir = { req, _, fi in
            // Directories need no state per open. Where the kernel allows it, ENOSYS tells it to
            // stop sending opendir/releasedir altogether and to cache every listing (Linux
            // treats a directory opened without OPENDIR as keep_cache + cache_readdir), which
            // saves two round trips per directory on a warm walk.
            if FuseAdapter.from(req).kernelSkipsOpendir.load(ordering: .relaxed) {
                fuse_reply_err(req, ENOSYS)
                return
            }
            cfuse_set_cache_readdir(fi!)
            fuse_reply_open(req, fi)
        }
        ops.releasedir = { req, _, _ in fuse_reply_err(req, 0) }
        ops.readdir = { req, ino, size, offset, _ in
            FuseAdapter.from(req).readdir(req, ino, size, offset, plus: false)
        }
        ops.readdirplus = { req, ino, size, offset, _ in
            FuseAdapter.from(req).readdir(req, ino, size, offset, plus: true)
        }
        ops.getxattr = { req, ino, name, size in
            FuseAdapter.from(req).getxattr(req, ino, String(cString: name!), size)
        }
        ops.listxattr = { req, ino, size in FuseAdapter.from(req).listxattr(req, ino, size) }
        ops.statfs = { req, _ in FuseAdapter.from(req).statfs(req) }
        ops.setattr = { req, _, _, _, _ in fuse_reply_err(req, EROFS) }
        ops.mknod = { req, _, _, _, _ in fuse_reply_err(req, EROFS) }
        ops.mkdir = { req, _, _, _ in fuse_reply_err(req, EROFS) }
        ops.unlink = { req, _, _ in fuse_reply_err(req, EROFS) }
        ops.rmdir = { req, _, _ in fuse_reply_err(req, EROFS) }
        ops.symlink = { req, _, _, _ in fuse_reply_err(req, EROFS) }
        ops.rename = { req, _, _, _, _, _ in fuse_reply_err(req, EROFS) }
        ops.link = { req, _, _, _ in fuse_reply_err(req, EROFS) }
        ops.write = { req, _, _, _, _, _ in fuse_reply_err(req, EROFS) }
        ops.create = { req, _, _, _, _ in fuse_reply_err(req, EROFS) }
        ops.setxattr = { req, _, _, _, _, _ in fuse_reply_err(req, EROFS) }
        ops.removexattr = { req, _, _ in fuse_reply_err(req, EROFS) }
        return ops
    }
}
