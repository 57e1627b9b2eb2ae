import Foundation
import Glibc
import LocalCAS
import REAPI

/// Turns an overlay's final state into a new tree in the local CAS: the lower tree with the
/// upper layer applied. Entries the upper layer does not touch keep their digests (their blobs
/// are never read or fetched); new and changed files are hashed into the store; whiteouts
/// (character devices 0:0) remove entries; opaque directories replace what was below them.
public struct OverlayCapture: Sendable {
    public let store: LocalContentStore

    public init(store: LocalContentStore) {
        self.store = store
    }

    /// The digest of `lower` with the upper directory `upper` applied.
    /// - Parameter ignoring: absolute sandbox paths the sandbox itself created (bind mountpoints):
    ///   dropped, with the empty directories made to hold them, unless `lower` has them.
    public func capture(lower: Digest, upper: String, ignoring: [String] = []) throws(CASError) -> Digest {
        var written: Set<Digest> = []
        return try capture(lower: lower, upper: upper, ignoring: ignoring, written: &written)
    }

    /// The same, adding to `written` the digest of every file the upper layer holds (what the
    /// command wrote; everything else in the tree came from `lower` unchanged).
    public func capture(lower: Digest, upper: String, ignoring: [String] = [], written: inout Set<Digest>) throws(CASError) -> Digest {
        try apply(lower, upper, at: "", ignoring: Set(ignoring.map { "/" + $0.split(separator: "/").joined(separator: "/") }), written: &written)!
    }

    /// nil when the directory exists only to hold ignored paths.
    private func apply(_ lower: Digest?, _ upper: String, at sandboxDir: String, ignoring: Set<String>,
                       written: inout Set<Digest>) throws(CASError) -> Digest? {
        var directory = try lower.map { d throws(CASError) in DirectoryBuilder(try LocalTree(store: store).directory(d)) } ?? DirectoryBuilder()
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: upper) } catch {
            throw CASError(.io, "cannot list \(upper)", cause: error)
        }
        for name in names {
            let path = upper + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { throw CASError(.io, "cannot stat \(path): \(String(cString: strerror(errno)))") }
            let inLower = directory[name]
            var below: Digest? = nil
            if case .directory(let d)? = inLower { below = d }
            let sandboxPath = sandboxDir + "/" + name
            if ignoring.contains(sandboxPath) && inLower == nil { continue }
            directory[name] = nil
            switch st.st_mode & S_IFMT {
            case S_IFCHR where st.st_rdev == 0:
                continue  // a whiteout: the entry was deleted
            case S_IFDIR:
                let holdsIgnored = inLower == nil && ignoring.contains { $0.hasPrefix(sandboxPath + "/") }
                let merged = try apply(try Self.isOpaque(path) ? nil : below, path, at: sandboxPath, ignoring: ignoring, written: &written)
                if let merged, !(holdsIgnored && merged == Digest.empty) { directory[name] = .directory(merged) }
            case S_IFREG:
                let digest = try store.importFile(at: path)
                written.insert(digest)
                directory[name] = .file(digest, isExecutable: (st.st_mode & S_IXUSR) != 0)
            case S_IFLNK:
                directory[name] = .symlink(to: try Self.readLink(path))
            default:
                continue  // sockets, FIFOs, devices: not representable in a Directory
            }
        }
        if lower == nil && directory.isEmpty && ignoring.contains(where: { $0.hasPrefix(sandboxDir + "/") }) {
            return nil
        }
        do {
            return try directory.store(in: store)
        } catch {
            throw CASError.wrapping(error, "storing the captured Directory for \(upper)")
        }
    }

    /// overlayfs marks a directory that hides everything below it with this xattr.
    /// - Throws: when the attribute cannot be read (other than being absent): guessing "not
    ///   opaque" would bring deleted entries back.
    static func isOpaque(_ path: String) throws(CASError) -> Bool {
        guard let getxattr = Self.getxattr else { throw CASError(.io, "getxattr is not available") }
        var value = [UInt8](repeating: 0, count: 4)
        let n = getxattr(path, "trusted.overlay.opaque", &value, value.count)
        if n < 0 {
            guard errno == ENODATA || errno == ENOTSUP else {
                throw CASError(.io, "cannot read the overlay attributes of \(path): \(String(cString: strerror(errno)))")
            }
            return false
        }
        return n == 1 && value[0] == UInt8(ascii: "y")
    }

    /// glibc's `getxattr`, looked up at run time: Swift's Glibc module does not declare it.
    private static let getxattr: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getxattr") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int).self)
    }()

    static func readLink(_ path: String) throws(CASError) -> String {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buffer.withUnsafeMutableBufferPointer { readlink(path, $0.baseAddress!, $0.count - 1) }
        guard n >= 0 else { throw CASError(.io, "cannot read link \(path): \(String(cString: strerror(errno)))") }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }
}
