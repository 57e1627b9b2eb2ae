import FoundationEssentials
import Glibc

/// A blob being written into a ``LocalContentStore``: bytes go to a private temp file while
/// they are hashed; ``commit()`` verifies the digest and only then puts the file into place.
///
/// Not thread safe: one writer belongs to one task. A writer that is neither committed nor
/// aborted removes its temp file when it is deallocated.
public final class BlobWriter {
    private let store: LocalContentStore
    private let expected: Digest?
    private let file: TemporaryBlobFile
    /// The open descriptor; -1 once closed, -2 once committed or aborted.
    private var fd: Int32
    private var builder = DigestBuilder()

    init(store: LocalContentStore, expecting expected: Digest?) throws(CASError) {
        self.store = store
        self.expected = expected
        file = try store.createTemporary(flags: O_WRONLY)
        fd = file.fd
    }

    deinit {
        if fd >= 0 { close(fd) }
        if fd != -2 { store.discard(file) }
    }

    /// Bytes written so far.
    public private(set) var bytesWritten: Int64 = 0

    /// Appends `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(CASError) {
        precondition(fd >= 0, "write after commit or abort")
        if let expected, Int64(bytes.count) + bytesWritten > expected.sizeBytes {
            throw CASError(.corrupt, "blob \(expected) is longer than its digest says")
        }
        builder.update(bytes)
        bytesWritten += Int64(bytes.count)
        try FileDescriptorIO.writeAll(fd: fd, bytes, path: file.description)
    }

    /// Appends `data`.
    public func write(_ data: Data) throws(CASError) {
        var failure: CASError?
        data.withUnsafeBytes { raw in
            do { try write(raw) } catch { failure = error as? CASError }
        }
        if let failure { throw failure }
    }

    /// Verifies the content against the expected digest and makes it visible in the store.
    /// - Returns: the digest of what was written.
    /// - Throws: `.corrupt` if the content does not match; nothing becomes visible then.
    @discardableResult
    public func commit() throws(CASError) -> Digest {
        precondition(fd >= 0, "commit after commit or abort")
        let actual = builder.finalize()
        let descriptor = fd
        fd = -1
        defer { close(descriptor) }
        if let expected, actual != expected {
            throw CASError(.corrupt, "blob does not match its digest: expected \(expected), got \(actual)")
        }
        try store.publish(file, as: actual)
        fd = -2
        return actual
    }

    /// Discards what was written.
    public func abort() {
        if fd >= 0 { close(fd); fd = -1 }
        store.discard(file)
        fd = -2
    }
}
