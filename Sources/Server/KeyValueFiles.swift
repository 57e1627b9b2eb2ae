import Foundation
import Glibc
import LocalCAS

/// A directory of small values, one file per key, each replaced atomically (written to a temp
/// file, then renamed), so readers never see half a value and concurrent writers of one key
/// leave one of their values whole. Keys are hex strings (digests), never paths.
struct KeyValueFiles: Sendable {
    let directory: String

    init(directory: String) throws(CASError) {
        self.directory = directory
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            throw CASError(.io, "cannot create \(directory): \(String(cString: strerror(errno)))")
        }
    }

    func read(_ key: String) -> Data? {
        FileManager.default.contents(atPath: "\(directory)/\(key)")
    }

    func write(_ key: String, _ value: Data) throws(CASError) {
        let path = "\(directory)/\(key)"
        let tmp = "\(path).\(getpid()).\(UInt64.random(in: 0...UInt64.max)).tmp"
        guard FileManager.default.createFile(atPath: tmp, contents: value), rename(tmp, path) == 0 else {
            unlink(tmp)
            throw CASError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
