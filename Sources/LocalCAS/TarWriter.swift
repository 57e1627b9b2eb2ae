import FoundationEssentials
import Glibc

/// Writes a tree whose blobs are all local as a **reproducible** tar stream: entries in
/// depth-first name order, mtime 0, owner 0:0 with no names, modes 0755/0644 (directories
/// 0755). The same tree always gives the same bytes. POSIX ustar, with a pax extended header
/// for paths or link targets too long for ustar's fields.
public struct TarWriter: Sendable {
    public let store: LocalContentStore

    public init(store: LocalContentStore) {
        self.store = store
    }

    /// Writes the tree `root` to the file descriptor `fd` (a file or a pipe) and the two
    /// zero blocks that end an archive.
    public func write(_ root: Digest, to fd: Int32) throws(CASError) {
        try writeDirectory(root, prefix: "", to: fd)
        try output(Data(count: 1024), to: fd)
    }

    private func writeDirectory(_ digest: Digest, prefix: String, to fd: Int32) throws(CASError) {
        let directory = try LocalTree(store: store).directory(digest)
        enum Entry { case file(ValidatedDirectory.File), link(ValidatedDirectory.Symlink), dir(ValidatedDirectory.Subdirectory) }
        let entries = directory.files.map { ($0.name, Entry.file($0)) } + directory.symlinks.map { ($0.name, Entry.link($0)) }
            + directory.directories.map { ($0.name, Entry.dir($0)) }
        for (name, entry) in entries.sorted(by: { $0.0 < $1.0 }) {
            let path = prefix + name.name
            switch entry {
            case .file(let file):
                try header(path, type: "0", size: file.digest.sizeBytes, mode: file.isExecutable ? 0o755 : 0o644, to: fd)
                do {
                    try store.forEachChunk(of: file.digest) { chunk in try Self.write(chunk, to: fd) }
                } catch {
                    throw CASError.wrapping(error, "writing \(path) to the tar stream")
                }
                let pad = Int((512 - file.digest.sizeBytes % 512) % 512)
                try output(Data(count: pad), to: fd)
            case .link(let link):
                try header(path, type: "2", size: 0, mode: 0o777, linkTarget: link.target, to: fd)
            case .dir(let sub):
                try header(path + "/", type: "5", size: 0, mode: 0o755, to: fd)
                try writeDirectory(sub.digest, prefix: path + "/", to: fd)
            }
        }
    }

    private func header(_ path: String, type: Character, size: Int64, mode: Int, linkTarget: String = "", to fd: Int32) throws(CASError) {
        var pax: [(String, String)] = []
        let (prefix, name) = Self.split(path)
        if name == nil { pax.append(("path", path)) }
        if linkTarget.utf8.count > 100 { pax.append(("linkpath", linkTarget)) }
        // ustar's size field holds 11 octal digits (8 GiB); pax carries bigger sizes.
        let ustarSize = size > 0o77777777777 ? 0 : size
        if ustarSize != size { pax.append(("size", String(size))) }
        if !pax.isEmpty {
            var records = Data()
            for (key, value) in pax { records.append(Self.paxRecord(key, value)) }
            try output(Self.block(name: "PaxHeaders/entry", prefix: "", type: "x", size: Int64(records.count), mode: 0o644, link: ""), to: fd)
            try output(records + Data(count: (512 - records.count % 512) % 512), to: fd)
        }
        let shortName = name ?? String(decoding: path.utf8.suffix(100), as: UTF8.self)
        let shortLink = linkTarget.utf8.count > 100 ? "" : linkTarget
        try output(Self.block(name: shortName, prefix: name == nil ? "" : prefix, type: type, size: ustarSize, mode: mode, link: shortLink), to: fd)
    }

    /// ustar splits a long path at a `/` into a 155-byte prefix and a 100-byte name; nil name
    /// when it cannot.
    static func split(_ path: String) -> (String, String?) {
        let bytes = Array(path.utf8)
        if bytes.count <= 100 { return ("", path) }
        for i in stride(from: min(bytes.count - 1, 155), through: 1, by: -1) where bytes[i] == UInt8(ascii: "/") {
            if bytes.count - i - 1 <= 100 && bytes.count - i - 1 > 0 {
                return (String(decoding: bytes[..<i], as: UTF8.self), String(decoding: bytes[(i + 1)...], as: UTF8.self))
            }
        }
        return ("", nil)
    }

    /// `LEN key=value\n`, where LEN counts the whole record, itself included.
    static func paxRecord(_ key: String, _ value: String) -> Data {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length += 1 }
        return Data((String(length) + body).utf8)
    }

    static func block(name: String, prefix: String, type: Character, size: Int64, mode: Int, link: String) -> Data {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, width: Int) {
            for (i, byte) in text.utf8.prefix(width).enumerated() { h[offset + i] = byte }
        }
        func octal(_ value: Int64, at offset: Int, width: Int) {
            put(String(value, radix: 8).leftPadded(to: width - 1), at: offset, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(Int64(mode), at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(0, at: 136, width: 12)
        h[156] = type.asciiValue!
        put(link, at: 157, width: 100)
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        put(prefix, at: 345, width: 155)
        // The checksum is computed with its own field as eight spaces.
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int64($1) }
        put(String(sum, radix: 8).leftPadded(to: 6), at: 148, width: 6)
        h[154] = 0
        h[155] = 0x20
        return Data(h)
    }

    private func output(_ data: Data, to fd: Int32) throws(CASError) {
        do {
            try data.withUnsafeBytes { try Self.write($0, to: fd) }
        } catch {
            throw CASError.wrapping(error, "writing the tar stream")
        }
    }

    private static func write(_ bytes: UnsafeRawBufferPointer, to fd: Int32) throws(CASError) {
        try FileDescriptorIO.writeAll(fd: fd, bytes, path: "the tar stream")
    }
}

extension String {
    /// Left-padded with zeros to `width` characters.
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
