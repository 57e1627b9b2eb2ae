import FoundationEssentials
import Glibc

/// Loops around `read(2)`/`write(2)` that handle short transfers and `EINTR`.
enum FileDescriptorIO {
    static func forEachChunk(fd: Int32, chunkSize: Int, path: String,
                             _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, chunkSize)
            if n < 0 {
                if errno == EINTR { continue }
                throw CASError(.io, "reading \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
    }

    /// Up to `range.count` bytes of `fd` from `range.lowerBound` by `pread` (fewer only at
    /// the end of the file).
    static func read(fd: Int32, _ range: Range<Int64>, path: String) throws(CASError) -> Data {
        var data = Data(count: range.count)
        var done = 0
        while done < range.count {
            let n = data.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, range.count - done, off_t(range.lowerBound) + off_t(done)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CASError(.io, "reading \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            done += n
        }
        data.count = done
        return data
    }

    static func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(CASError) {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw CASError(.io, "writing \(path): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }
}
