import FoundationEssentials
import Glibc
import Synchronization

/// Small blobs packed into append-only files, so that storing one costs a `pwrite` and a
/// 48-byte index record instead of a new inode, a link and a directory entry (which dominate a
/// cold read of many small files, and grow costly on a filesystem where many files were just
/// deleted). Buildbarn's block-based local storage does the same.
///
/// `ROOT/packs/ID.pack` holds blobs back to back; `ID.index` names them: an 8-byte magic, then
/// one record per blob — the raw SHA-256 (32 bytes), the size and the offset (little-endian
/// 64-bit each). A record is appended only after its bytes are written, with one `write(2)` on
/// an `O_APPEND` descriptor, so records never interleave; at load a record whose bytes lie past
/// the end of its pack (a crash, a truncated file) and a partial last record are ignored. A
/// process appends only to a pack whose index it holds an exclusive `flock` on — one it
/// created, or one another process left with room to spare (so short-lived processes, a shell
/// session each, do not leave a pack each) — so processes sharing a cache never write the same
/// file; a process sees the packs that existed when it opened the store and its own additions.
///
/// A blob is only ever added whole and verified (by ``LocalContentStore``); packs are removed
/// whole, by eviction (``remove(_:)``). An open ``Pack`` stays readable after its files are
/// unlinked, so a reader holding one is never cut off.
///
/// Thread safety: all methods may be called concurrently.
final class PackStore: Sendable {
    /// The largest blob that goes into a pack; bigger ones are files of their own.
    static let maxBlobSize: Int64 = 128 << 10
    /// A pack this large gets no more blobs: the next one starts a new pack.
    static let packSize: Int64 = 64 << 20
    static let magic = Array("LZPACK1\n".utf8)
    static let recordSize = 48

    /// One pack file, open for reading (and the descriptor to write through, for this process's
    /// current pack); closed when the last reference goes.
    final class Pack: Sendable {
        let id: String
        let path: String
        let fd: Int32

        init(id: String, path: String, fd: Int32) {
            self.id = id
            self.path = path
            self.fd = fd
        }

        deinit { close(fd) }
    }

    /// Where a packed blob's bytes are.
    struct Location: Sendable {
        let pack: Pack
        let offset: Int64
    }

    /// A pack's index open for appending, with this process's `flock` on it; closed (and the
    /// lock let go) when the last reference goes — not while a writer that reserved room in the
    /// pack before a roll-over still has its record to write.
    final class IndexFile: Sendable {
        let fd: Int32

        init(fd: Int32) {
            self.fd = fd
        }

        deinit { close(fd) }
    }

    /// The pack this process appends to.
    private struct Writer {
        let pack: Pack
        let index: IndexFile
        var end: Int64
    }

    private struct State {
        var packs: [String: Pack] = [:]
        var writer: Writer?
    }

    /// A part of the index: blobs by the first hex digit of their hash, so that the lookups of
    /// many FUSE threads and tasks rarely wait for each other or for a writer.
    private final class Shard: Sendable {
        let index = Mutex<[Digest: Location]>([:])
    }

    let directory: String
    private let state = Mutex(State())
    private let shards: [Shard] = (0 ..< 16).map { _ in Shard() }

    /// Opens (creating if needed) `directory` and loads every pack's index.
    init(directory: String) throws(CASError) {
        self.directory = directory
        try LocalContentStore.makeDirectory(directory)
        load()
    }

    /// Where `digest` is packed, if it is.
    func location(_ digest: Digest) -> Location? {
        shard(digest).index.withLock { $0[digest] }
    }

    /// How many blobs are packed.
    var count: Int { shards.reduce(0) { total, shard in total + shard.index.withLock { $0.count } } }

    private func shard(_ digest: Digest) -> Shard {
        shards[Int(Self.nibble(digest.hash.utf8.first!))]
    }

    /// Appends a blob whose bytes were checked against `digest`; a blob already packed is left
    /// as it is (two threads packing one blob at once may both write it; the first to finish is
    /// the one indexed, and both copies are whole).
    func append(_ data: Data, as digest: Digest) throws(CASError) {
        precondition(Int64(data.count) == digest.sizeBytes && digest.sizeBytes <= Self.maxBlobSize)
        guard location(digest) == nil else { return }
        let (pack, index, offset) = try state.withLock { s throws(CASError) -> (Pack, IndexFile, Int64) in
            if s.writer == nil || s.writer!.end + digest.sizeBytes > Self.packSize {
                let full = s.writer?.pack.id
                if let reused = reusePack(among: s.packs.values.filter { $0.id != full }) {
                    s.writer = reused
                } else {
                    s.writer = try startPack()
                }
                s.packs[s.writer!.pack.id] = s.writer!.pack
            }
            let offset = s.writer!.end
            s.writer!.end += digest.sizeBytes
            return (s.writer!.pack, s.writer!.index, offset)
        }
        let failure = data.withUnsafeBytes { bytes -> Int32? in
            var done = 0
            while done < bytes.count {
                let n = pwrite(pack.fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return n < 0 ? errno : EIO }
                done += n
            }
            return nil
        }
        if let failure {
            throw CASError(.io, "cannot write to \(pack.path): \(String(cString: strerror(failure)))")
        }
        let record = Self.record(digest, offset: offset)
        let written = record.withUnsafeBytes { write(index.fd, $0.baseAddress, $0.count) }
        guard written == record.count else {
            throw CASError(.io, "cannot write the index of \(pack.path): \(String(cString: strerror(errno)))")
        }
        shard(digest).index.withLock { index in
            if index[digest] == nil { index[digest] = Location(pack: pack, offset: offset) }
        }
    }

    /// The bytes of a packed blob.
    func read(_ location: Location, size: Int64) throws(CASError) -> Data {
        let data = try FileDescriptorIO.read(fd: location.pack.fd, location.offset..<(location.offset + size), path: location.pack.path)
        guard Int64(data.count) == size else {
            throw CASError(.corrupt, "\(location.pack.path) ends inside a blob of \(size) bytes at \(location.offset)")
        }
        return data
    }

    /// Every pack: its ID, its size on disk, when it was last used (its atime) and its blobs.
    func packs() -> [(id: String, bytes: Int64, used: timespec, digests: [Digest])] {
        let packs = state.withLock { $0.packs }
        var digests: [String: [Digest]] = [:]
        for shard in shards {
            shard.index.withLock { index in
                for (digest, location) in index { digests[location.pack.id, default: []].append(digest) }
            }
        }
        return packs.values.compactMap { pack in
            var st = stat()
            guard fstat(pack.fd, &st) == 0 else { return nil }
            return (pack.id, Int64(st.st_size), st.st_atim, digests[pack.id] ?? [])
        }
    }

    /// Marks a pack as just used (its atime, the clock eviction goes by).
    func touch(_ location: Location) {
        var times = [FileTime.now, FileTime.omit]
        futimens(location.pack.fd, &times)
    }

    /// Removes a pack and forgets its blobs (readers holding it still read it whole).
    func remove(_ id: String) {
        let known = state.withLock { s -> Bool in
            guard s.packs.removeValue(forKey: id) != nil else { return false }
            if s.writer?.pack.id == id { s.writer = nil }
            return true
        }
        guard known else { return }
        for shard in shards {
            shard.index.withLock { index in index = index.filter { $0.value.pack.id != id } }
        }
        unlink("\(directory)/\(id).pack")
        unlink("\(directory)/\(id).index")
    }

    /// A pack with room left whose index no other process holds, locked for this process.
    private func reusePack(among packs: some Sequence<Pack>) -> Writer? {
        for pack in packs.sorted(by: { $0.id < $1.id }) {
            let indexFD = open("\(directory)/\(pack.id).index", O_WRONLY | O_APPEND | O_CLOEXEC)
            guard indexFD >= 0 else { continue }
            var st = stat()
            let fd = open(pack.path, O_RDWR | O_CLOEXEC)
            if flock(indexFD, LOCK_EX | LOCK_NB) == 0, fd >= 0, fstat(fd, &st) == 0,
               Int64(st.st_size) < Self.packSize - Self.maxBlobSize,
               isIntact(pack.id, packSize: Int64(st.st_size)) {
                return Writer(pack: Pack(id: pack.id, path: pack.path, fd: fd), index: IndexFile(fd: indexFD), end: Int64(st.st_size))
            }
            if fd >= 0 { close(fd) }
            close(indexFD)
        }
        return nil
    }

    /// Whether every record of the pack's index is whole and names bytes inside the pack: only
    /// then may more records follow (after a torn record they would be misread; after a record
    /// whose bytes were cut off, a new blob's bytes would be read as that blob's).
    private func isIntact(_ id: String, packSize: Int64) -> Bool {
        guard let file = FileManager.default.contents(atPath: "\(directory)/\(id).index"),
              file.count >= Self.magic.count, (file.count - Self.magic.count) % Self.recordSize == 0 else { return false }
        return Self.records(in: file, packSize: packSize).count == (file.count - Self.magic.count) / Self.recordSize
    }

    /// A new pack of this process's own.
    private func startPack() throws(CASError) -> Writer {
        let hex = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let id = String(repeating: "0", count: 16 - hex.count) + hex
        let path = "\(directory)/\(id).pack", indexPath = "\(directory)/\(id).index"
        let fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CASError(.io, "cannot create \(path): \(String(cString: strerror(errno)))") }
        let indexFD = open(indexPath, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard indexFD >= 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            unlink(path)
            throw CASError(.io, "cannot create \(indexPath): \(reason)")
        }
        guard flock(indexFD, LOCK_EX | LOCK_NB) == 0, write(indexFD, Self.magic, Self.magic.count) == Self.magic.count else {
            let reason = String(cString: strerror(errno))
            close(fd)
            close(indexFD)
            unlink(path)
            unlink(indexPath)
            throw CASError(.io, "cannot write \(indexPath): \(reason)")
        }
        return Writer(pack: Pack(id: id, path: path, fd: fd), index: IndexFile(fd: indexFD), end: 0)
    }

    /// Reads every `ID.index` whose pack is there; removes what a crash left half-made (a pack
    /// without an index, or the other way round) once it is an hour old.
    private func load() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let present = Set(names)
        var loaded: [String: Pack] = [:], index: [Digest: Location] = [:]
        for name in names {
            let id: String, partner: String
            if name.hasSuffix(".index") {
                id = String(name.dropLast(6)); partner = id + ".pack"
            } else if name.hasSuffix(".pack") {
                id = String(name.dropLast(5)); partner = id + ".index"
            } else {
                continue
            }
            guard present.contains(partner) else {
                Self.removeIfStale("\(directory)/\(name)")
                continue
            }
            guard name.hasSuffix(".index"), let pack = Self.openPack(id: id, in: directory),
                  let records = FileManager.default.contents(atPath: "\(directory)/\(name)") else { continue }
            var st = stat()
            guard fstat(pack.fd, &st) == 0 else { continue }
            for (digest, offset) in Self.records(in: records, packSize: Int64(st.st_size)) {
                index[digest] = Location(pack: pack, offset: offset)
            }
            loaded[id] = pack
        }
        state.withLock { $0.packs = loaded }
        var parts = [[Digest: Location]](repeating: [:], count: shards.count)
        for (digest, location) in index { parts[Int(Self.nibble(digest.hash.utf8.first!))][digest] = location }
        for (shard, part) in zip(shards, parts) { shard.index.withLock { $0 = part } }
    }

    private static func openPack(id: String, in directory: String) -> Pack? {
        let path = "\(directory)/\(id).pack"
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        return fd >= 0 ? Pack(id: id, path: path, fd: fd) : nil
    }

    private static func removeIfStale(_ path: String) {
        var st = stat()
        if lstat(path, &st) == 0 && st.st_mtim.tv_sec < time(nil) - 3600 { unlink(path) }
    }

    /// The index record of a blob at `offset`.
    static func record(_ digest: Digest, offset: Int64) -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(recordSize)
        var hex = digest.hash.utf8.makeIterator()
        while let high = hex.next(), let low = hex.next() {
            bytes.append(nibble(high) << 4 | nibble(low))
        }
        withUnsafeBytes(of: UInt64(digest.sizeBytes).littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(offset).littleEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// The well-formed records of an index file whose pack has `packSize` bytes: nothing if the
    /// magic is wrong; a partial last record, a blob past the pack's end or of a size no pack
    /// holds is skipped.
    static func records(in file: Data, packSize: Int64) -> [(Digest, Int64)] {
        guard file.count >= magic.count, Array(file.prefix(magic.count)) == magic else { return [] }
        let body = file.dropFirst(magic.count)
        var result: [(Digest, Int64)] = []
        result.reserveCapacity(body.count / recordSize)
        body.withUnsafeBytes { raw in
            var at = 0
            while at + recordSize <= raw.count {
                defer { at += recordSize }
                let hash = hex(raw[at ..< at + 32])
                let size = Int64(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at + 32, as: UInt64.self)))
                let offset = Int64(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at + 40, as: UInt64.self)))
                guard size > 0, size <= maxBlobSize, offset >= 0, offset <= packSize - size,
                      let digest = try? Digest(hash: hash, sizeBytes: size) else { continue }
                result.append((digest, offset))
            }
        }
        return result
    }

    /// Lowercase hex of `bytes`.
    private static func hex(_ bytes: Slice<UnsafeRawBufferPointer>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xf)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func nibble(_ c: UInt8) -> UInt8 {
        c <= 0x39 ? c - 0x30 : c - 0x61 + 10
    }
}
