import CFuse
import Glibc
import Synchronization

/// The `fuse_lowlevel_ops` table: each C callback recovers the ``FuseFrontEnd`` from the
/// session userdata, copies what libfuse passes into Swift values (its pointers die when the
/// callback returns), runs the operation and hands its answer to ``FuseFrontEnd/answer(_:_:)``.
/// Every operation that would change the tree answers EROFS.
enum FuseOperations {
    static func make() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in
            guard let conn, let userdata else { return }
            // Let libfuse splice file data from the CAS file descriptors into /dev/fuse.
            if conn.pointee.capable & UInt32(FUSE_CAP_SPLICE_WRITE) != 0 {
                conn.pointee.want |= UInt32(FUSE_CAP_SPLICE_WRITE)
            }
            let frontEnd = Unmanaged<FuseFrontEnd>.fromOpaque(userdata).takeUnretainedValue()
            frontEnd.kernelSkipsOpendir.store(conn.pointee.capable & UInt32(FUSE_CAP_NO_OPENDIR_SUPPORT) != 0, ordering: .relaxed)
            frontEnd.kernelSkipsOpen.store(conn.pointee.capable & UInt32(FUSE_CAP_NO_OPEN_SUPPORT) != 0, ordering: .relaxed)
        }
        ops.lookup = { req, parent, name in
            let name = String(cString: name!)
            answerNow(req) { $0.lookup(parent, name) }
        }
        ops.forget = { req, ino, count in answerNow(req) { $0.forget([(ino, count)]) } }
        ops.forget_multi = { req, count, forgets in
            let list = (0..<count).map { (forgets![$0].ino, forgets![$0].nlookup) }
            answerNow(req) { $0.forget(list) }
        }
        ops.getattr = { req, ino, _ in answerNow(req) { $0.getattr(ino) } }
        ops.readlink = { req, ino in answerNow(req) { $0.readlink(ino) } }
        ops.open = { req, ino, fi in answerNow(req) { $0.open(ino, fi!) } }
        ops.read = { req, ino, size, offset, _ in
            let frontEnd = FuseFrontEnd.from(req)
            frontEnd.answer(req, frontEnd.read(ino, size, offset))
        }
        ops.release = { req, _, _ in answerNow(req) { _ in .error(0) } }
        ops.opendir = { req, _, fi in answerNow(req) { $0.opendir(fi!) } }
        ops.releasedir = { req, _, _ in answerNow(req) { _ in .error(0) } }
        ops.readdir = { req, ino, size, offset, _ in answerNow(req) { $0.readdir(req, ino, size, offset, plus: false) } }
        ops.readdirplus = { req, ino, size, offset, _ in answerNow(req) { $0.readdir(req, ino, size, offset, plus: true) } }
        ops.getxattr = { req, ino, name, size in
            let name = String(cString: name!)
            answerNow(req) { $0.getxattr(ino, name, size) }
        }
        ops.listxattr = { req, ino, size in answerNow(req) { $0.listxattr(ino, size) } }
        ops.statfs = { req, _ in answerNow(req) { $0.statfs() } }
        ops.setattr = { req, _, _, _, _ in answerNow(req) { _ in .error(EROFS) } }
        ops.mknod = { req, _, _, _, _ in answerNow(req) { _ in .error(EROFS) } }
        ops.mkdir = { req, _, _, _ in answerNow(req) { _ in .error(EROFS) } }
        ops.unlink = { req, _, _ in answerNow(req) { _ in .error(EROFS) } }
        ops.rmdir = { req, _, _ in answerNow(req) { _ in .error(EROFS) } }
        ops.symlink = { req, _, _, _ in answerNow(req) { _ in .error(EROFS) } }
        ops.rename = { req, _, _, _, _, _ in answerNow(req) { _ in .error(EROFS) } }
        ops.link = { req, _, _, _ in answerNow(req) { _ in .error(EROFS) } }
        ops.write = { req, _, _, _, _, _ in answerNow(req) { _ in .error(EROFS) } }
        ops.create = { req, _, _, _, _ in answerNow(req) { _ in .error(EROFS) } }
        ops.setxattr = { req, _, _, _, _, _ in answerNow(req) { _ in .error(EROFS) } }
        ops.removexattr = { req, _, _ in answerNow(req) { _ in .error(EROFS) } }
        return ops
    }

}

/// Runs an operation that answers at once and sends its reply.
private func answerNow(_ req: fuse_req_t?, _ operation: (FuseFrontEnd) -> FuseReply) {
    let frontEnd = FuseFrontEnd.from(req)
    frontEnd.answer(req, .now(operation(frontEnd)))
}
