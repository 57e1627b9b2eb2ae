import FoundationEssentials
import Glibc
import Synchronization

/// A blob arriving out of order, in ranges: bytes are written at their offsets into a private
/// temp file that can be read while it fills, and ``commit()`` hashes the whole file and only
/// then makes it visible under its digest. Until then nothing in the store names it.
///
/// This is what lets a large blob be served while it streams in: readers `pread` the ranges
/// that have arrived from ``fd``. That descriptor stays valid after the commit (the file keeps
/// its inode) and after an abort (the data simply has no name any more).
///
/// Thread safety: ``write(_:at:)`` may be called concurrently for disjoint ranges; ``commit()``
/// and ``abort()`` are called once, by the owner, after the writes have ended.
public final class PartialBlob: Sendable {
    public let digest: Digest
    /// Open for reading and writing; closed when the blob is deallocated.
    public let fd: Int32
    private let store: LocalContentStore
    private let file: TemporaryBlobFile
    private let finished = Mutex(false)

    /// Creates an empty temp file for `digest` in `store`.
    public init(store: LocalContentStore, digest: Digest) throws(CASError) {
        self.store = store
        self.digest = digest
        file = try store.createTemporary(flags: O_RDWR)
        fd = file.fd
    }

    deinit {
        close(fd)
        if !finished.withLock({ $0 }) { store.discard(file) }
    }

    /// Writes `data` at `offset`. Writing past the digest's size is an error.
    public func write(_ data: Data, at offset: Int64) throws(CASError) {
        guard offset >= 0, offset + Int64(data.count) <= digest.sizeBytes else {
            throw CASError(.corrupt, "blob \(digest) received bytes past its size (at \(offset), \(data.count) bytes)")
        }
        var failure: Int32 = 0
        data.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                done += n
            }
        }
        if failure != 0 {
            throw CASError(.io, "cannot write blob \(digest) to \(file.description): \(String(cString: strerror(failure)))")
        }
    }

    /// Hashes what was written and, if it is exactly the blob, makes it visible in the store.
    /// - Throws: `.corrupt` if the content does not match the digest; the temp file is removed.
    public func commit() throws(CASError) {
        var builder = DigestBuilder()
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var offset: off_t = 0
        while true {
            let n = pread(fd, buffer.baseAddress, chunk, offset)
            if n < 0 {
                if errno == EINTR { continue }
                abort()
                throw CASError(.io, "cannot read back blob \(digest) from \(file.description): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            builder.update(UnsafeRawBufferPointer(rebasing: buffer[..<n]))
            offset += off_t(n)
        }
        let actual = builder.finalize()
        guard actual == digest else {
            abort()
            throw CASError(.corrupt, "blob does not match its digest: expected \(digest), got \(actual)")
        }
        try store.publish(file, as: digest)
        finished.withLock { $0 = true }
    }

    /// Discards the temp file. Readers holding ``fd`` can still read what arrived.
    public func abort() {
        finished.withLock { done in
            if !done { store.discard(file) }
            done = true
        }
    }
}
