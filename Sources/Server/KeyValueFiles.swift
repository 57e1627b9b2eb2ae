import Foundation
import Glibc
import LocalCAS

/// A directory of small values, one file per key, each replaced atomically (``AtomicFile``).
/// Keys are hex strings (digests), never paths.
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
        try AtomicFile.write(value, to: "\(directory)/\(key)")
    }
}
