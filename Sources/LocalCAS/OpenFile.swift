import FoundationEssentials
import Glibc

/// A blob's bytes in a file opened for reading: a file of its own, closed when the last
/// reference to it goes, or a slice of a pack (``PackStore``) whose descriptor the pack owns.
/// Reads are positional (`pread`), so one open file can serve concurrent readers; the
/// descriptor stays valid however the file is renamed or unlinked meanwhile (a blob evicted
/// from the CAS after it was opened still reads whole).
public final class OpenFile: Sendable {
    /// The descriptor, for splicing (a FUSE reply) or `pread`: the blob's bytes start at
    /// ``base`` (see ``span(offset:size:)``).
    public let fd: Int32
    /// Where it was opened, for messages.
    public let path: String
    /// Where the blob starts in the file: 0 for a file of its own.
    public let base: Int64
    /// The blob's size, for a slice; nil: the blob is the whole file.
    public let limit: Int64?
    /// What owns a shared descriptor (a pack) and keeps it open while this is alive.
    private let owner: (any AnyObject & Sendable)?

    /// Takes ownership of `fd`.
    public init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
        base = 0
        limit = nil
        owner = nil
    }

    /// `size` bytes at `base` of a descriptor `owner` keeps open.
    init(slice fd: Int32, path: String, base: Int64, size: Int64, owner: any AnyObject & Sendable) {
        self.fd = fd
        self.path = path
        self.base = base
        limit = size
        self.owner = owner
    }

    /// Opens `path` read-only.
    /// - Throws: `.notFound` if it does not exist, `.io` for any other failure.
    public convenience init(opening path: String) throws(CASError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw CASError(code == ENOENT ? .notFound : .io, "cannot open \(path): \(String(cString: strerror(code)))")
        }
        self.init(fd: fd, path: path)
    }

    deinit {
        if owner == nil { close(fd) }
    }

    /// Where `size` bytes at `offset` of the blob are in ``fd``: the file offset, and the count
    /// cut at the blob's end (a slice must not run into the next blob of its pack).
    public func span(offset: Int64, size: Int) -> (offset: Int64, size: Int) {
        guard let limit else { return (offset, size) }
        return (base + min(offset, limit), Int(max(0, min(Int64(size), limit - offset))))
    }

    /// Up to `range.count` bytes from `range.lowerBound` (fewer only at the end of the blob).
    public func read(_ range: Range<Int64>) throws(CASError) -> Data {
        let (start, count) = span(offset: range.lowerBound, size: Int(range.count))
        return try FileDescriptorIO.read(fd: fd, start ..< start + Int64(count), path: path)
    }
}
