import Glibc
import LocalCAS

/// Runs `/bin/fusermount3` (setuid, so an unprivileged owner of a mount may unmount it) and
/// collects what it says on stderr.
enum Fusermount {
    static let path = "/bin/fusermount3"

    /// - Returns: its exit status and its stderr, on one line.
    /// - Throws: when it cannot be started at all.
    static func run(_ arguments: [String]) throws(MountError) -> (status: Int32, stderr: String) {
        do {
            let stderr = try ChildProcess.pipe()
            defer { close(stderr.read) }
            let child: ChildProcess
            do {
                defer { close(stderr.write) }
                child = try ChildProcess([path] + arguments, descriptors: [STDERR_FILENO: stderr.write])
            }
            let message = String(decoding: FileDescriptorIO.readAll(stderr.read), as: UTF8.self)
            return (child.wait(), message.split(whereSeparator: \.isNewline).joined(separator: "; "))
        } catch {
            throw MountError("cannot run \(path)", cause: error)
        }
    }
}
