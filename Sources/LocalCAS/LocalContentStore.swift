import FoundationEssentials
import Glibc
import Synchronization

/// The on-disk content-addressable store: `ROOT/objects/ab/cdef…` holds the blob whose
/// SHA-256 is `abcdef…`, or a pack under `ROOT/packs/` holds it (``PackStore``: small blobs a
/// mount fetched to read, stored without an inode each — ``put(_:expecting:packing:)``). A
/// packed blob is read in place; whoever needs it as a file of its own (a hard link, a copy
/// from a descriptor) gets one made from the pack on demand (``linkablePath(of:)``).
///
/// A blob becomes visible under its digest only after its hash and size have been verified: it
/// is written to `ROOT/tmp/`, checked, then `rename(2)`d into place. `rename` is atomic, so
/// several processes may write the same blob at once and readers never see a partial file.
/// A crash mid-write leaves at most a stray temp file, which ``init(root:)`` sweeps away.
///
/// Every blob file's mtime is ``blobMTime``, so that an input staged as a hard link to it has
/// the same fixed mtime as one staged by copy; its atime is its last use (``touch(_:)``), the
/// clock ``StoreQuota`` evicts by.
///
/// Thread safety: all methods may be called from any thread; the type holds no mutable state.
public final class LocalContentStore: Sendable {
    /// The cache directory this store lives in.
    public let root: String
    let objectsDir: String
    let tmpDir: String
    /// The packed small blobs (nil for someone else's store, opened read-only).
    let packs: PackStore?
    /// Which `objects/XX` directories are known to exist (one `mkdir` each, not one per blob).
    let madeShards = Mutex([Bool](repeating: false, count: 256))

    /// Opens (creating if needed) the store under `root`.
    public init(root: String) throws(CASError) {
        self.root = root
        objectsDir = root + "/objects"
        tmpDir = root + "/tmp"
        for dir in [root, objectsDir, tmpDir] {
            try Self.makeDirectory(dir)
        }
        packs = try PackStore(directory: root + "/packs")
        sweepStaleTemporaries()
    }

    /// Opens someone else's store with the same layout (BuildStream's `CACHEDIR/cas`, which
    /// buildbox-casd keeps) to read from: nothing is created or swept there.
    /// - Throws: `.notFound` if `root/objects` does not exist.
    public init(readingFrom root: String) throws(CASError) {
        self.root = root
        objectsDir = root + "/objects"
        tmpDir = root + "/tmp"
        packs = nil
        var st = stat()
        guard stat(objectsDir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw CASError(.notFound, "\(root) holds no CAS (no objects/ directory)")
        }
    }

    /// Creates `path` and any missing parents; an existing directory is fine.
    static func makeDirectory(_ path: String) throws(CASError) {
        if mkdir(path, 0o755) == 0 || errno == EEXIST { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw CASError(.io, "cannot create directory \(path)", cause: error)
        }
    }

    /// Removes temp files older than an hour: what crashed writers left behind. Younger ones may
    /// belong to a writer in another process that is still running.
    private func sweepStaleTemporaries() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: tmpDir) else { return }
        let cutoff = time(nil) - 3600
        for name in names {
            var st = stat()
            let path = tmpDir + "/" + name
            if lstat(path, &st) == 0 && st.st_mtim.tv_sec < cutoff { unlink(path) }
        }
    }

    /// The mtime of every blob file and of every staged input: BuildStream's fixed staging time,
    /// 2011-11-11 11:11:11 UTC. One time for all inputs, so that `make` in an action sees no
    /// input newer than another (a release tarball's `Makefile.in` is not regenerated).
    public static let blobMTime = timespec(tv_sec: 1_321_009_871, tv_nsec: 0)

    /// The path where the blob with `digest` lives as a file of its own (whether or not it is
    /// present; a packed blob is not there — see ``linkablePath(of:)``).
    public func path(of digest: Digest) -> String {
        let h = digest.hash
        let split = h.index(h.startIndex, offsetBy: 2)
        return "\(objectsDir)/\(h[..<split])/\(h[split...])"
    }

    /// Whether the blob is present. The empty blob is always present.
    public func contains(_ digest: Digest) -> Bool {
        if digest.sizeBytes == 0 || packed(digest) != nil { return true }
        var st = stat()
        return stat(path(of: digest), &st) == 0 && Int64(st.st_size) == digest.sizeBytes
    }

    /// Where the blob is packed, if it is.
    func packed(_ digest: Digest) -> PackStore.Location? {
        digest.sizeBytes <= PackStore.maxBlobSize ? packs?.location(digest) : nil
    }

    /// How many blobs are packed (the rest are files under `objects/`).
    public var packedCount: Int { packs?.count ?? 0 }

    /// The path of the blob as a file of its own, made from its pack if it is only packed:
    /// for hard links and for tools that open files.
    /// - Throws: `.notFound` if it is not local.
    public func linkablePath(of digest: Digest) throws(CASError) -> String {
        let path = path(of: digest)
        if digest.sizeBytes > 0, let location = packed(digest), access(path, F_OK) != 0 {
            let data = try packs!.read(location, size: digest.sizeBytes)
            let writer = try BlobWriter(store: self, expecting: digest)
            try writer.write(data)
            try writer.commit()
        }
        return path
    }

    /// The blob as an open file: its own, or its slice of a pack.
    /// - Throws: `.notFound` if it is not local.
    public func openFile(_ digest: Digest) throws(CASError) -> OpenFile {
        if let location = packed(digest) {
            return OpenFile(slice: location.pack.fd, path: location.pack.path, base: location.offset,
                            size: digest.sizeBytes, owner: location.pack)
        }
        return OpenFile(fd: try openForReading(digest), path: path(of: digest))
    }

    /// Of `digests`, the ones not present locally, in their original order, without repeats.
    public func missing(_ digests: some Sequence<Digest>) -> [Digest] {
        var seen = Set<Digest>()
        return digests.filter { seen.insert($0).inserted && !contains($0) }
    }

    /// The whole blob.
    /// - Throws: `.notFound` if it is not local.
    public func read(_ digest: Digest) throws(CASError) -> Data {
        if digest.sizeBytes == 0 { return Data() }
        if let location = packed(digest) { return try packs!.read(location, size: digest.sizeBytes) }
        guard let data = FileManager.default.contents(atPath: path(of: digest)) else {
            throw CASError(.notFound, "blob \(digest) is not in the local CAS")
        }
        return data
    }

    /// Opens the blob, as a file of its own (``linkablePath(of:)``), for reading and returns the
    /// file descriptor; the caller closes it.
    /// - Throws: `.notFound` if it is not local (a file of the same hash but another size than
    ///   the digest says is not it).
    public func openForReading(_ digest: Digest) throws(CASError) -> Int32 {
        if digest.sizeBytes == 0 {
            try? put(Data(), expecting: .empty)
        }
        let fd = open(try linkablePath(of: digest), O_RDONLY | O_CLOEXEC)
        var st = stat()
        guard fd >= 0, fstat(fd, &st) == 0, Int64(st.st_size) == digest.sizeBytes else {
            if fd >= 0 { close(fd) }
            throw CASError(.notFound, "blob \(digest) is not in the local CAS")
        }
        return fd
    }

    /// Calls `body` with successive chunks of the blob (at most `chunkSize` bytes each).
    public func forEachChunk(of digest: Digest, chunkSize: Int = 1 << 20,
                             _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let fd = try openForReading(digest)
        defer { close(fd) }
        try FileDescriptorIO.forEachChunk(fd: fd, chunkSize: chunkSize, path: path(of: digest), body)
    }

    /// Stores `data` and returns its digest.
    @discardableResult
    public func put(_ data: Data) throws(CASError) -> Digest {
        let digest = Digest(data: data)
        try put(data, expecting: digest)
        return digest
    }

    /// Stores `data`, which must hash to `expected`; with `packing`, a small blob goes into a
    /// pack (a mount's fetched blobs: read in place, rarely wanted as files).
    /// - Throws: `.corrupt` (and stores nothing) if it does not.
    public func put(_ data: Data, expecting expected: Digest, packing: Bool = false) throws(CASError) {
        let small = packing && expected.sizeBytes > 0 && expected.sizeBytes <= PackStore.maxBlobSize && packs != nil
        if small || (contains(expected) && expected.sizeBytes > 0) {
            // Still verify: a caller handing us wrong bytes must hear about it.
            let actual = Digest(data: data)
            guard actual == expected else {
                throw CASError(.corrupt, "blob does not match its digest \(expected): got \(actual)")
            }
            if small && !contains(expected) { try packs!.append(data, as: expected) }
            return
        }
        let writer = try BlobWriter(store: self, expecting: expected)
        try writer.write(data)
        try writer.commit()
    }

    /// Starts a streamed write of a blob that must hash to `expected`.
    public func makeWriter(expecting expected: Digest?) throws(CASError) -> BlobWriter {
        try BlobWriter(store: self, expecting: expected)
    }

    /// Copies the file at `path` into the store and returns its digest, hashing as it copies.
    @discardableResult
    public func importFile(at path: String, expecting expected: Digest? = nil) throws(CASError) -> Digest {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw CASError(.io, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        let writer = try BlobWriter(store: self, expecting: expected)
        do {
            try FileDescriptorIO.forEachChunk(fd: fd, chunkSize: 1 << 20, path: path) { chunk in
                try writer.write(chunk)
            }
        } catch {
            writer.abort()
            throw CASError.wrapping(error, "importing \(path)")
        }
        return try writer.commit()
    }

    /// Removes a blob's file of its own (used by eviction and by tests; packs go whole,
    /// ``removePack(_:)``).
    public func remove(_ digest: Digest) {
        unlink(path(of: digest))
    }

    /// Every blob in the store with its size on disk. Walks `objects/`; meant for stats and GC.
    public func allDigests() -> [Digest] {
        var result = [Digest]()
        forEachBlob { digest, _ in result.append(digest) }
        return result
    }

    /// Calls `visit` for every blob that is a file of its own with its `stat` (size, and atime:
    /// the last use, see ``touch(_:)``). Walks `objects/`; packed blobs are ``forEachPack(_:)``'s.
    public func forEachBlob(_ visit: (Digest, stat) -> Void) {
        let fm = FileManager.default
        guard let prefixes = try? fm.contentsOfDirectory(atPath: objectsDir) else { return }
        for prefix in prefixes {
            guard let rests = try? fm.contentsOfDirectory(atPath: objectsDir + "/" + prefix) else { continue }
            for rest in rests {
                var st = stat()
                guard lstat("\(objectsDir)/\(prefix)/\(rest)", &st) == 0,
                      let d = try? Digest(hash: prefix + rest, sizeBytes: Int64(st.st_size)) else { continue }
                visit(d, st)
            }
        }
    }

    /// Marks a blob as just used: its atime is the clock ``StoreQuota`` evicts by (its mtime
    /// stays ``blobMTime``).
    public func touch(_ digest: Digest) {
        if let location = packed(digest) { return packs!.touch(location) }
        var times = [FileTime.now, FileTime.omit]
        utimensat(AT_FDCWD, path(of: digest), &times, 0)
    }

    /// Calls `visit` for every pack: its ID, its size on disk, its last use (atime) and the
    /// blobs it holds.
    public func forEachPack(_ visit: (_ id: String, _ bytes: Int64, _ used: timespec, _ digests: [Digest]) -> Void) {
        for pack in packs?.packs() ?? [] { visit(pack.id, pack.bytes, pack.used, pack.digests) }
    }

    /// Removes a pack and every blob in it (used by eviction).
    public func removePack(_ id: String) {
        packs?.remove(id)
    }
}
