import Foundation
import Glibc
import LocalCAS
import Mount
import RemoteCAS
import TestSupport


/// A tree uploaded to a real buildbox-casd and mounted in-process from a fresh local cache that
/// holds only its Directory nodes.
final class MountedTree: @unchecked Sendable {
    let casd: BuildboxCASD
    let dir: TemporaryDirectory
    let source: String
    let root: Digest
    let store: LocalContentStore
    let connection: RemoteConnection
    let fs: LazyFileSystem
    let mount: FuseMount
    let path: String
    private var loop: Thread?
    private let finished = DispatchSemaphore(value: 0)

    /// - Parameters:
    ///   - populate: writes the source tree.
    ///   - remote: where the mount fetches from (default: the casd itself).
    ///   - readAhead, profile: as ``LazyFileSystem`` takes them.
    init(populate: (inout TreeFixture) -> Void, casd existing: BuildboxCASD? = nil,
         remote: ((BuildboxCASD) async throws -> String)? = nil, callTimeout: Duration = .seconds(10),
         readAhead: ReadAheadPolicy = .eager, profile: ProfileSession? = nil) async throws {
        if let existing { casd = existing } else { casd = try await BuildboxCASD() }
        dir = TemporaryDirectory("mount-test")
        var fixture = TreeFixture(root: dir.sub("src"))
        populate(&fixture)
        source = fixture.root
        let uploadStore = try LocalContentStore(root: dir.sub("upload"))
        let tree = try TreeImporter(store: uploadStore, storeFiles: false).importDirectory(at: source)
        root = tree.root
        var blobs: [Digest: Blob] = tree.directories.mapValues { .bytes($0) }
        for (d, p) in tree.files { blobs[d] = .path(p) }
        let casdConfig = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: casd.url))
        try await RemoteConnection.with(casdConfig) { c in
            _ = try await c.store.upload(blobs)
        }
        store = try LocalContentStore(root: dir.sub("cache"))
        let url = try await remote?(casd) ?? casd.url
        connection = try RemoteConnection(RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: url), callTimeout: callTimeout, maxAttempts: 2))
        let store = self.store, root = self.root
        try await RemoteConnection.with(casdConfig) { c in
            try await TreeFetcher(store: store, connection: c).fetchTree(root)
        }
        fs = LazyFileSystem(root: root, store: store, content: ReadCachingContentStore(fast: store, slow: connection.store),
                            stats: MountStats(mountpoint: "", root: root.description), readAhead: readAhead, profile: profile)
        path = dir.sub("mnt")
        mount = try FuseMount(fs: fs, mountpoint: path)
        let mount = self.mount, finished = self.finished
        let thread = Thread {
            mount.run()
            finished.signal()
        }
        thread.start()
        loop = thread
    }

    /// Blobs received from the remote so far.
    var blobsFetched: Int { connection.metrics.snapshot.blobsReceived }
    var fetchCalls: Int { connection.metrics.snapshot["BatchReadBlobs"] + connection.metrics.snapshot["Read"] }

    func unmount() async {
        mount.unmount()
        _ = finished.wait(timeout: .now() + 10)
        await connection.close()
    }
}

/// Reads a whole file with plain POSIX calls; throws the errno on failure.
struct Errno: Error, Equatable { let code: Int32 }

func readFile(_ path: String) throws -> Data {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw Errno(code: errno) }
    defer { close(fd) }
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 1 << 17)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 { throw Errno(code: errno) }
        if n == 0 { return data }
        data.append(contentsOf: buffer[0..<n])
    }
}

/// The errno of the first read of `path` (0 if it succeeded).
func readError(_ path: String) -> Int32 {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return errno }
    defer { close(fd) }
    var byte: UInt8 = 0
    return read(fd, &byte, 1) < 0 ? errno : 0
}
