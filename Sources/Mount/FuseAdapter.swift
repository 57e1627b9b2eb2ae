import CFuse
import Foundation
import Glibc
import LocalCAS
import Logging
import RemoteCAS
import Synchronization

/// The FUSE low-level front end of a ``LazyFileSystem``: C callbacks that decode requests, ask
/// the filesystem, and reply. Requests that only need memory and the local CAS are answered
/// on the FUSE thread; a read of a blob that must be fetched is handed to a Task, which
/// replies when its bytes are there, so no FUSE thread ever waits on the network.
final class FuseAdapter: Sendable {
    let fs: LazyFileSystem
    /// Kernel caches of entries and attributes never expire: the tree is immutable.
    static let timeout: Double = 365 * 24 * 3600
    private let logger = Logger(label: "lazycas.fuse")
    /// Reads waiting for a fetch, by ticket. Whoever removes a request from here replies to
    /// it: the Task when its fetch ends, or ``failPending()`` at unmount; never both.
    private let pending = Mutex<(next: UInt64, requests: [UInt64: FuseRequest])>((0, [:]))

    /// The session, once mounted (for cache invalidation notices).
    let session = Mutex<SessionPointer?>(nil)

    /// Parks `req` until a Task replies to it; returns the ticket to claim it with.
    private func park(_ req: fuse_req_t?) -> UInt64 {
        let request = FuseRequest(raw: req!)
        return pending.withLock { p -> UInt64 in
            p.next += 1
            p.requests[p.next] = request
            return p.next
        }
    }

    /// Claims a parked request; nil if ``failPending()`` already answered it.
    private func claim(_ ticket: UInt64) -> FuseRequest? {
        pending.withLock { $0.requests.removeValue(forKey: ticket) }
    }

    /// Set at init when the kernel supports FUSE_NO_OPENDIR_SUPPORT / FUSE_NO_OPEN_SUPPORT.
    let kernelSkipsOpendir = Atomic(false)
    let kernelSkipsOpen = Atomic(false)

    /// Requests still waiting for a reply from a Task.
    var pendingCount: Int { pending.withLock { $0.requests.count } }

    /// Answers every read still waiting for a fetch with EIO, so a lazy unmount is not held up
    /// by readers blocked in the kernel on a slow remote.
    func failPending() {
        let requests = pending.withLock { p -> [FuseRequest] in
            defer { p.requests.removeAll() }
            return Array(p.requests.values)
        }
        for r in requests { fuse_reply_err(r.raw, EIO) }
    }

    init(fs: LazyFileSystem) {
        self.fs = fs
    }

    static func from(_ req: fuse_req_t?) -> FuseAdapter {
        Unmanaged<FuseAdapter>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
    }

    func stat(_ a: NodeAttributes) -> stat {
        var st = Glibc.stat()
        st.st_ino = __ino_t(a.inode)
        switch a.kind {
        case .directory: st.st_mode = S_IFDIR | a.permissions
        case .file: st.st_mode = S_IFREG | a.permissions
        case .symlink: st.st_mode = S_IFLNK | a.permissions
        }
        st.st_nlink = __nlink_t(a.linkCount)
        st.st_size = __off_t(a.size)
        st.st_blksize = 4096
        st.st_blocks = __blkcnt_t((a.size + 511) / 512)
        st.st_uid = getuid()
        st.st_gid = getgid()
        return st
    }

    func entry(_ a: NodeAttributes) -> fuse_entry_param {
        var e = fuse_entry_param()
        e.ino = fuse_ino_t(a.inode)
        e.generation = 1
        e.attr = stat(a)
        e.attr_timeout = Self.timeout
        e.entry_timeout = Self.timeout
        return e
    }

    // MARK: Callbacks (each replies exactly once)

    func lookup(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: String) {
        do {
            var e = entry(try fs.lookup(parent: UInt64(parent), name: name))
            fuse_reply_entry(req, &e)
        } catch {
            fuse_reply_err(req, error.errno)
        }
    }

    func getattr(_ req: fuse_req_t?, _ ino: fuse_ino_t) {
        do {
            var st = stat(try fs.attributes(UInt64(ino)))
            fuse_reply_attr(req, &st, Self.timeout)
        } catch {
            fuse_reply_err(req, error.errno)
        }
    }

    func readlink(_ req: fuse_req_t?, _ ino: fuse_ino_t) {
        do {
            let target = try fs.readlink(UInt64(ino))
            fuse_reply_readlink(req, target)
        } catch {
            fuse_reply_err(req, error.errno)
        }
    }

    /// Files need no state per open: reads find their blob by inode. Where the kernel allows
    /// it, ENOSYS tells it to stop sending open/release altogether (Linux then keeps the page
    /// cache across opens, as keep_cache would), so a warm re-read never reaches the daemon.
    func open(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>) {
        guard fi.pointee.flags & O_ACCMODE == O_RDONLY else {
            fuse_reply_err(req, EROFS)
            return
        }
        if kernelSkipsOpen.load(ordering: .relaxed) {
            fuse_reply_err(req, ENOSYS)
            return
        }
        fi.pointee.fh = 0
        cfuse_set_keep_cache(fi)
        fuse_reply_open(req, fi)
    }

    /// Serves a read of file `ino`: from its local blob at once; from the stream of a large
    /// blob as soon as the range has arrived; or, for a small blob that is not local, after a
    /// fetch in a Task (with read-ahead companions). The first read of a cold file is what
    /// fetches it.
    func read(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int, _ offset: off_t) {
        let inode = UInt64(ino)
        let stream: BlobStream?
        do {
            if let fd = try fs.openLocal(inode) {
                reply(req, fd: fd, size: size, offset: offset)
                close(fd)
                return
            }
            stream = try fs.openStreaming(inode)
        } catch {
            fuse_reply_err(req, error.errno)
            return
        }
        if let stream {
            watch(stream, servedTo: inode)
            read(req, from: stream, size: size, offset: offset)
            return
        }
        let fs = self.fs
        let ticket = park(req)
        Task {
            let result: Result<Int32, FileSystemError>
            do { result = .success(try await fs.openFetching(inode)) } catch { result = .failure(FileSystemError(error)) }
            guard let request = self.claim(ticket) else {
                // Already answered at unmount.
                if case .success(let fd) = result { close(fd) }
                return
            }
            switch result {
            case .success(let fd):
                self.reply(request.raw, fd: fd, size: size, offset: offset)
                close(fd)
            case .failure(let error):
                fuse_reply_err(request.raw, error.errno)
            }
        }
    }

    /// A read of a blob that is streaming in: answered once its range has arrived.
    private func read(_ req: fuse_req_t?, from stream: BlobStream, size: Int, offset: off_t) {
        do {
            if try stream.hasArrived(offset: Int64(offset), count: Int64(size)) {
                reply(req, fd: stream.fd, size: size, offset: offset)
                return
            }
        } catch {
            fuse_reply_err(req, EIO)
            return
        }
        let ticket = park(req)
        Task {
            let arrived: Bool
            do { try await stream.wait(offset: Int64(offset), count: Int64(size)); arrived = true } catch { arrived = false }
            guard let request = self.claim(ticket) else { return }
            if arrived {
                self.reply(request.raw, fd: stream.fd, size: size, offset: offset)
            } else {
                fuse_reply_err(request.raw, EIO)
            }
        }
    }

    private func reply(_ req: fuse_req_t?, fd: Int32, size: Int, offset: off_t) {
        let result = cfuse_reply_fd(req, fd, size, offset)
        if result != 0 { logger.debug("read reply failed: \(result)") }
    }

    /// Streams that served bytes to an inode, watched until they end: if one fails, every
    /// inode it served gets its cached pages dropped (two files may share a blob; a stream may
    /// have been started by a prefetch rather than by a read).
    private let watched = Mutex<Set<StreamReader>>([])

    private struct StreamReader: Hashable {
        let stream: ObjectIdentifier
        let inode: UInt64
    }

    private func watch(_ stream: BlobStream, servedTo inode: UInt64) {
        let key = StreamReader(stream: ObjectIdentifier(stream), inode: inode)
        guard watched.withLock({ $0.insert(key).inserted }) else { return }
        Task {
            do { try await stream.complete() } catch { self.dropCachedPages(inode) }
            _ = self.watched.withLock { $0.remove(key) }
        }
    }

    /// Pages of a large file served before its blob failed verification must not stay in the
    /// kernel's cache. The notice may wait for page locks held by reads that are waiting for
    /// us, so it is sent from a thread of its own, never from the Swift concurrency pool
    /// (libfuse: never in the path of a related operation).
    private func dropCachedPages(_ inode: UInt64) {
        Thread { [self] in
            self.session.withLock { session in
                guard let session else { return }
                fuse_lowlevel_notify_inval_inode(session.raw, fuse_ino_t(inode), 0, 0)
            }
        }.start()
    }

    /// Fills one `readdir`/`readdirplus` reply from `offset` (an index into ".", "..", children).
    func readdir(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int, _ offset: off_t, plus: Bool) {
        let listing: DirectoryListing
        do {
            listing = try fs.listing(UInt64(ino))
        } catch {
            fuse_reply_err(req, error.errno)
            return
        }
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
        defer { buffer.deallocate() }
        var used = 0
        var index = Int(offset)
        let total = listing.children.count + 2
        while index < total {
            let name: String
            var st = Glibc.stat()
            var e = fuse_entry_param()
            var child: UInt64?
            if index < 2 {
                name = index == 0 ? "." : ".."
                st.st_ino = __ino_t(index == 0 ? UInt64(ino) : (fs.inodes.parent(UInt64(ino)) ?? UInt64(ino)))
                st.st_mode = S_IFDIR
                e.attr = st
            } else {
                let c = listing.children[index - 2]
                name = c.name
                if plus {
                    let inode = fs.inodes.lookup(parent: UInt64(ino), name: c.name, node: c.node)
                    guard let a = try? fs.attributes(inode, c.node) else {
                        fs.inodes.forget(inode, count: 1)
                        break
                    }
                    e = entry(a)
                    child = inode
                } else {
                    st.st_ino = __ino_t(fs.inodes.existing(parent: UInt64(ino), name: c.name) ?? UInt64.max)
                    switch c.node {
                    case .directory: st.st_mode = S_IFDIR
                    case .file: st.st_mode = S_IFREG
                    case .symlink: st.st_mode = S_IFLNK
                    }
                }
            }
            let needed = name.withCString { cname in
                plus
                    ? fuse_add_direntry_plus(req, buffer + used, size - used, cname, &e, off_t(index + 1))
                    : fuse_add_direntry(req, buffer + used, size - used, cname, &st, off_t(index + 1))
            }
            if needed > size - used {
                // Did not fit: the kernel never saw this entry, so it holds no reference.
                if let child { fs.inodes.forget(child, count: 1) }
                break
            }
            used += needed
            index += 1
        }
        fuse_reply_buf(req, buffer, used)
    }

    func getxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ name: String, _ size: Int) {
        do {
            reply(req, bytes: Array(try fs.extendedAttribute(UInt64(ino), name: name).utf8), size: size)
        } catch {
            fuse_reply_err(req, error.errno)
        }
    }

    func listxattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int) {
        do {
            let names = try fs.extendedAttributeNames(UInt64(ino))
            reply(req, bytes: names.flatMap { Array($0.utf8) + [0] }, size: size)
        } catch {
            fuse_reply_err(req, error.errno)
        }
    }

    /// The xattr protocol: size 0 asks for the length; a buffer too small is ERANGE.
    private func reply(_ req: fuse_req_t?, bytes: [UInt8], size: Int) {
        if size == 0 {
            fuse_reply_xattr(req, bytes.count)
        } else if size < bytes.count {
            fuse_reply_err(req, ERANGE)
        } else {
            bytes.withUnsafeBytes { fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count) }
        }
    }

    func statfs(_ req: fuse_req_t?) {
        var st = statvfs()
        st.f_bsize = 4096
        st.f_frsize = 4096
        st.f_namemax = 255
        fuse_reply_statfs(req, &st)
    }
}

extension FileSystemError {
    init(_ error: any Error) {
        self = (error as? FileSystemError) ?? .io
    }
}
