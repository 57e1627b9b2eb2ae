import CFuse
import FoundationEssentials
import Glibc
import LocalCAS
import Logging
import Synchronization

/// The FUSE low-level front end of a ``LazyFileSystem``: inode numbers and the kernel's lookup
/// counts (``InodeTable``), and one operation per request kind that turns a decoded request into
/// a ``FuseReply`` value. Requests that need only memory and the local CAS are answered on the
/// FUSE thread; a read whose blob must be fetched is answered later, by a task, so no FUSE
/// thread ever waits on the network. ``answer(_:_:)`` is the one place a reply is sent from.
final class FuseFrontEnd: Sendable {
    let fs: LazyFileSystem
    let inodes: InodeTable
    private let logger = Logger(label: "lazycas.fuse")
    /// Reads waiting for a fetch, by ticket. Whoever removes a request from here replies to
    /// it: the task when its fetch ends, or ``failPending()`` at unmount; never both.
    private let pending = Mutex<(next: UInt64, requests: [UInt64: FuseRequest])>((0, [:]))

    /// The session, once mounted (for cache invalidation notices).
    let session = Mutex<SessionPointer?>(nil)

    /// Set at init when the kernel supports FUSE_NO_OPENDIR_SUPPORT / FUSE_NO_OPEN_SUPPORT.
    let kernelSkipsOpendir = Atomic(false)
    let kernelSkipsOpen = Atomic(false)

    init(fs: LazyFileSystem) {
        self.fs = fs
        inodes = InodeTable(root: fs.root)
    }

    static func from(_ req: fuse_req_t?) -> FuseFrontEnd {
        Unmanaged<FuseFrontEnd>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
    }

    // MARK: Replying

    /// How an operation answers: now, or when a read's fetch has ended.
    enum Answer {
        case now(FuseReply)
        case later(PendingRead, offset: Int64, size: Int)
    }

    /// Sends `answer` to `req`: at once, or once the read is fulfilled, from the task that
    /// fulfils it (the request is parked meanwhile, so an unmount can answer it instead).
    func answer(_ req: fuse_req_t?, _ answer: Answer) {
        switch answer {
        case .now(let reply):
            send(reply, to: req)
        case .later(let pending, let offset, let size):
            let ticket = park(req)
            pending.whenDone { result in
                guard let request = self.claim(ticket) else { return }  // already answered at unmount
                self.send(Self.reply(result, offset: offset, size: size), to: request.raw)
            }
        }
    }

    private func send(_ reply: FuseReply, to req: fuse_req_t?) {
        let result = reply.send(to: req)
        if result != 0 { logger.debug("reply failed: \(result)") }
    }

    private static func reply(_ result: Result<FileData, FileSystemError>, offset: Int64, size: Int) -> FuseReply {
        switch result {
        case .success(let data): .data(data, offset: offset, size: size)
        case .failure(let error): .error(error.errno)
        }
    }

    private func park(_ req: fuse_req_t?) -> UInt64 {
        let request = FuseRequest(raw: req!)
        return pending.withLock { p -> UInt64 in
            p.next += 1
            p.requests[p.next] = request
            return p.next
        }
    }

    private func claim(_ ticket: UInt64) -> FuseRequest? {
        pending.withLock { $0.requests.removeValue(forKey: ticket) }
    }

    /// Answers every read still waiting for a fetch with EIO, so a lazy unmount is not held up
    /// by readers blocked in the kernel on a slow remote.
    func failPending() {
        let requests = pending.withLock { p -> [FuseRequest] in
            defer { p.requests.removeAll() }
            return Array(p.requests.values)
        }
        for r in requests { send(.error(EIO), to: r.raw) }
    }

    // MARK: Attributes

    private func node(_ inode: fuse_ino_t) throws(FileSystemError) -> Node {
        guard let node = inodes.node(UInt64(inode)) else { throw .notFound }
        return node
    }

    func stat(_ inode: UInt64, _ a: NodeAttributes) -> stat {
        var st = Glibc.stat()
        st.st_ino = __ino_t(inode)
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
        // One fixed time, as staged inputs have (a build's `make` sees no input newer than another).
        st.st_mtim = LocalContentStore.blobMTime
        st.st_atim = LocalContentStore.blobMTime
        st.st_ctim = LocalContentStore.blobMTime
        return st
    }

    func entry(_ inode: UInt64, _ a: NodeAttributes) -> fuse_entry_param {
        var e = fuse_entry_param()
        e.ino = fuse_ino_t(inode)
        e.generation = 1
        e.attr = stat(inode, a)
        e.attr_timeout = FuseReply.timeout
        e.entry_timeout = FuseReply.timeout
        return e
    }

    /// Runs a memory-only operation, turning its error into the errno reply.
    private func reply(_ body: () throws(FileSystemError) -> FuseReply) -> FuseReply {
        do { return try body() } catch { return .error(error.errno) }
    }

    // MARK: Operations

    /// The entry's inode carries one more kernel reference.
    func lookup(_ parent: fuse_ino_t, _ name: String) -> FuseReply {
        reply { () throws(FileSystemError) in
            guard case .directory(let directory) = try node(parent) else { throw .notDirectory }
            let child = try fs.lookup(name, in: directory)
            let attributes = try fs.attributes(of: child)
            return .entry(entry(inodes.lookup(parent: UInt64(parent), name: name, node: child), attributes))
        }
    }

    func forget(_ forgets: [(inode: fuse_ino_t, count: UInt64)]) -> FuseReply {
        for f in forgets { inodes.forget(UInt64(f.inode), count: f.count) }
        return .none
    }

    func getattr(_ ino: fuse_ino_t) -> FuseReply {
        reply { () throws(FileSystemError) in .attributes(stat(UInt64(ino), try fs.attributes(of: try node(ino)))) }
    }

    func readlink(_ ino: fuse_ino_t) -> FuseReply {
        reply { () throws(FileSystemError) in .link(try fs.readlink(try node(ino))) }
    }

    /// Files need no state per open: reads find their blob by inode. Where the kernel allows
    /// it, ENOSYS tells it to stop sending open/release altogether (Linux then keeps the page
    /// cache across opens, as keep_cache would), so a warm re-read never reaches the daemon.
    func open(_ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>) -> FuseReply {
        guard fi.pointee.flags & O_ACCMODE == O_RDONLY else { return .error(EROFS) }
        if kernelSkipsOpen.load(ordering: .relaxed) { return .error(ENOSYS) }
        fi.pointee.fh = 0
        cfuse_set_keep_cache(fi)
        return .open(fi)
    }

    /// Directories need no state per open either. Where the kernel allows it, ENOSYS tells it
    /// to stop sending opendir/releasedir and to cache every listing (Linux treats a directory
    /// opened without OPENDIR as keep_cache + cache_readdir): two round trips saved per
    /// directory on a warm walk.
    func opendir(_ fi: UnsafeMutablePointer<fuse_file_info>) -> FuseReply {
        if kernelSkipsOpendir.load(ordering: .relaxed) { return .error(ENOSYS) }
        cfuse_set_cache_readdir(fi)
        return .open(fi)
    }

    /// `size` bytes at `offset` of file `ino`: from the local blob at once, or once fetched.
    func read(_ ino: fuse_ino_t, _ size: Int, _ offset: off_t) -> Answer {
        let inode = UInt64(ino)
        guard let node = inodes.node(inode) else { return .now(.error(ENOENT)) }
        guard case .file(let digest, _) = node else { return .now(.error(EISDIR)) }
        let inodes = self.inodes
        fs.profile?.read(inode: inode, digest: digest) { LazyFileSystem.relativePath(inodes.location(inode)) }
        switch fs.read(digest, offset: Int64(offset), size: size, location: { inodes.location(inode) }) {
        case .ready(let result):
            if case .success(.incoming(let incoming)) = result { watch(incoming, servedTo: inode) }
            return .now(Self.reply(result, offset: Int64(offset), size: size))
        case .pending(let pending):
            pending.whenDone { result in
                if case .success(.incoming(let incoming)) = result { self.watch(incoming, servedTo: inode) }
            }
            return .later(pending, offset: Int64(offset), size: size)
        }
    }

    /// Fills one `readdir`/`readdirplus` reply from `offset` (an index into ".", "..", children).
    func readdir(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int, _ offset: off_t, plus: Bool) -> FuseReply {
        let listing: DirectoryListing
        do throws(FileSystemError) {
            guard case .directory(let digest) = try node(ino) else { throw .notDirectory }
            listing = try fs.listing(digest)
        } catch {
            return .error(error.errno)
        }
        var buffer = [UInt8](repeating: 0, count: size)
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
                st.st_ino = __ino_t(index == 0 ? UInt64(ino) : (inodes.parent(UInt64(ino)) ?? UInt64(ino)))
                st.st_mode = S_IFDIR
                e.attr = st
            } else {
                let c = listing.children[index - 2]
                name = c.name
                if plus {
                    guard let a = try? fs.attributes(of: c.node) else { break }
                    let inode = inodes.lookup(parent: UInt64(ino), name: c.name, node: c.node)
                    e = entry(inode, a)
                    child = inode
                } else {
                    st.st_ino = __ino_t(inodes.existing(parent: UInt64(ino), name: c.name) ?? UInt64.max)
                    switch c.node {
                    case .directory: st.st_mode = S_IFDIR
                    case .file: st.st_mode = S_IFREG
                    case .symlink: st.st_mode = S_IFLNK
                    }
                }
            }
            let needed = buffer.withUnsafeMutableBufferPointer { out in
                name.withCString { cname in
                    out.baseAddress!.withMemoryRebound(to: CChar.self, capacity: size) { base in
                        plus
                            ? fuse_add_direntry_plus(req, base + used, size - used, cname, &e, off_t(index + 1))
                            : fuse_add_direntry(req, base + used, size - used, cname, &st, off_t(index + 1))
                    }
                }
            }
            if needed > size - used {
                // Did not fit: the kernel never saw this entry, so it holds no reference.
                if let child { inodes.forget(child, count: 1) }
                break
            }
            used += needed
            index += 1
        }
        return .buffer(Array(buffer[..<used]))
    }

    func getxattr(_ ino: fuse_ino_t, _ name: String, _ size: Int) -> FuseReply {
        reply { () throws(FileSystemError) in
            Self.xattr(Array(try fs.extendedAttribute(try node(ino), name: name).utf8), size: size)
        }
    }

    func listxattr(_ ino: fuse_ino_t, _ size: Int) -> FuseReply {
        reply { () throws(FileSystemError) in
            Self.xattr(fs.extendedAttributeNames(try node(ino)).flatMap { Array($0.utf8) + [0] }, size: size)
        }
    }

    /// The xattr protocol: size 0 asks for the length; a buffer too small is ERANGE.
    private static func xattr(_ bytes: [UInt8], size: Int) -> FuseReply {
        if size == 0 { return .xattrSize(bytes.count) }
        return size < bytes.count ? .error(ERANGE) : .buffer(bytes)
    }

    func statfs() -> FuseReply {
        var st = statvfs()
        st.f_bsize = 4096
        st.f_frsize = 4096
        st.f_namemax = 255
        return .statfs(st)
    }

    // MARK: Streams that fail

    /// Streams that served bytes to an inode, watched until they end (the one watcher of a
    /// stream per inode): if one fails, the failure is logged and every inode it served gets its
    /// cached pages dropped (two files may share a blob; a stream may have been started by
    /// another reader).
    private let watched = Mutex<Set<StreamReader>>([])

    private struct StreamReader: Hashable {
        let stream: ObjectIdentifier
        let inode: UInt64
    }

    private func watch(_ incoming: any IncomingBlob, servedTo inode: UInt64) {
        let key = StreamReader(stream: ObjectIdentifier(incoming), inode: inode)
        guard watched.withLock({ $0.insert(key).inserted }) else { return }
        let (fs, inodes) = (self.fs, self.inodes)
        Task {
            do {
                try await incoming.complete()
            } catch {
                fs.failed(incoming.digest, at: inodes.location(inode), error)
                self.dropCachedPages(inode)
            }
            _ = self.watched.withLock { $0.remove(key) }
        }
    }

    /// Pages of a large file served before its blob failed verification must not stay in the
    /// kernel's cache. The notice may wait for page locks held by reads that are waiting for
    /// us, so it is sent from a thread of its own, never from the Swift concurrency pool
    /// (libfuse: never in the path of a related operation).
    private func dropCachedPages(_ inode: UInt64) {
        BlockingWork.detach { [self] in
            self.session.withLock { session in
                guard let session else { return }
                fuse_lowlevel_notify_inval_inode(session.raw, fuse_ino_t(inode), 0, 0)
            }
        }
    }
}
