import Foundation
import Glibc

/// A file opened for reading, closed when the last reference to it goes. Reads are positional
/// (`pread`), so one open file can serve concurrent readers; the descriptor stays valid however
/// the file is renamed or unlinked meanwhile (a blob evicted from the CAS after it was opened
/// still reads whole).
public final class OpenFile: Sendable {
    /// The descriptor, for splicing (a FUSE reply) or `pread`.
    public let fd: Int32
    /// Where it was opened, for messages.
    public let path: String

    /// Takes ownership of `fd`.
    public init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
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

    deinit { close(fd) }

    /// Up to `range.count` bytes from `range.lowerBound` (fewer only at the end of the file).
    public func read(_ range: Range<Int64>) throws(CASError) -> Data {
        try FileDescriptorIO.read(fd: fd, range, path: path)
    }
}
