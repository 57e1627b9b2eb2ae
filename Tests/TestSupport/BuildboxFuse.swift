import Foundation
import Glibc

/// A real `buildbox-fuse` mount of `root` from a REAPI server: the reference client that our
/// mount is compared with, and a third-party client our server must satisfy.
public final class BuildboxFuse: @unchecked Sendable {
    // @unchecked: `process` is set once in init and only read afterwards.
    public let mountpoint: String
    private let process: Process

    /// Mounts and waits until the tree is there.
    /// - Throws: if the binary is missing or the mount does not come up within 10 s.
    public init(remotePort: Int, root: String, mountpoint: String, cache: String) async throws {
        self.mountpoint = mountpoint
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.buildboxFusePath)
        process.arguments = ["--local=\(cache)", "--remote=http://127.0.0.1:\(remotePort)",
                             "--input-digest-value=\(root)", mountpoint]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<400 where !Self.isMounted(mountpoint) { try await Task.sleep(for: .milliseconds(25)) }
        guard Self.isMounted(mountpoint) else {
            stop()
            throw TestSupportError("buildbox-fuse did not mount \(root) at \(mountpoint)")
        }
    }

    /// Unmounts; buildbox-fuse exits once unmounted (it ignores SIGTERM while mounted).
    public func stop() {
        let u = Process()
        u.executableURL = URL(fileURLWithPath: "/bin/fusermount3")
        u.arguments = ["-u", "-z", mountpoint]
        u.standardError = FileHandle.nullDevice
        try? u.run()
        u.waitUntilExit()
        for _ in 0..<200 where process.isRunning { usleep(25_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Whether a FUSE filesystem is mounted at `path` (from /proc/self/mountinfo).
    public static func isMounted(_ path: String) -> Bool {
        guard let info = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return false }
        return info.split(separator: "\n").contains { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 && fields[4] == path && line.contains("fuse")
        }
    }
}
