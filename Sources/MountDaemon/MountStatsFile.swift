import FoundationEssentials
import Glibc
import LocalCAS
import Mount

/// A running mount's stats as `CACHE/mounts/PID.json`, rewritten four times a second, read by
/// `lazycas cas stats`.
public struct MountStatsFile: Sendable {
    public let directory: String
    public let fs: LazyFileSystem

    public init(directory: String, fs: LazyFileSystem) {
        self.directory = directory
        self.fs = fs
    }

    var path: String { "\(directory)/\(getpid()).json" }

    public func write() {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let data = try? JSONEncoder().encode(fs.currentStats) else { return }
        try? AtomicFile.write(data, to: path)
    }

    public func keepWriting() async {
        while !Task.isCancelled {
            write()
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    public func remove() { unlink(path) }

    /// Stats of every mount still running that uses the cache `directory` belongs to.
    public static func readAll(directory: String) -> [MountStatsSnapshot] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { name in
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)"),
                  let s = try? JSONDecoder().decode(MountStatsSnapshot.self, from: data) else { return nil }
            guard kill(s.pid, 0) == 0 else {
                unlink("\(directory)/\(name)")
                return nil
            }
            return s
        }
    }
}
