import FoundationEssentials
import Glibc

/// Loops around `read(2)`/`write(2)` that handle short transfers and `EINTR`; and, on them,
/// the line exchange of a process and its helper over pipes (the mount daemon's healer).
public enum FileDescriptorIO {
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

    /// Everything readable from `fd` until end of file (or an error).
    public static func readAll(_ fd: Int32) -> [UInt8] {
        var output: [UInt8] = []
        try? forEachChunk(fd: fd, chunkSize: 4096, path: "fd \(fd)") { output += $0 }
        return output
    }

    /// The lines read from `fd` (without their newline) as they arrive, read on a thread of
    /// their own; the sequence ends at end of file (or an error), and `fd` is closed then.
    public static func lines(of fd: Int32) -> AsyncStream<String> {
        AsyncStream { continuation in
            BlockingWork.detach {
                var pending: [UInt8] = []
                try? forEachChunk(fd: fd, chunkSize: 4096, path: "fd \(fd)") { chunk in
                    pending += chunk
                    while let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        continuation.yield(String(decoding: pending[..<end], as: UTF8.self))
                        pending.removeSubrange(...end)
                    }
                }
                close(fd)
                continuation.finish()
            }
        }
    }

    /// Writes `text` and a newline to `fd` whole.
    /// - Returns: false when the reader is gone (or another error).
    @discardableResult
    public static func writeLine(_ text: String, to fd: Int32) -> Bool {
        Array((text + "\n").utf8).withUnsafeBytes { bytes in
            (try? writeAll(fd: fd, bytes, path: "fd \(fd)")) != nil
        }
    }
}
