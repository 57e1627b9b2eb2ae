import CFuse
import Foundation
import Glibc
import LocalCAS
import Mount
import TestSupport
import Testing

/// Real FUSE mounts of trees held by a real buildbox-casd.
@Suite(.enabled(if: TestEnvironment.fuseTestsEnabled && TestEnvironment.casdTestsEnabled), .serialized)
struct MountTests {
    static func sampleTree(_ t: inout TreeFixture) {
        t.populate(files: 300, largeFiles: [5_000_000])
        t.write("same1", Data("duplicate content\n".utf8))
        t.write("d1/same2", Data("duplicate content\n".utf8))
        t.write("empty-file", Data())
        t.file("bin/tool", size: 5000, executable: true)
        t.symlink("bin/link", to: "tool")
        t.symlink("abs", to: "/etc/passwd")
        t.directory("empty-dir")
    }

    /// Every entry of a tree, relative path → (type, permission bits, size, symlink target).
    static func walk(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let fm = FileManager.default
        let enumerator = fm.enumerator(atPath: root)!
        while let rel = enumerator.nextObject() as? String {
            var st = stat()
            guard lstat(root + "/" + rel, &st) == 0 else { throw Errno(code: errno) }
            let type = st.st_mode & S_IFMT
            switch type {
            case S_IFDIR: result[rel] = "dir"
            case S_IFLNK: result[rel] = "link " + (try fm.destinationOfSymbolicLink(atPath: root + "/" + rel))
            default: result[rel] = "file x=\(st.st_mode & S_IXUSR != 0) size=\(st.st_size)"
            }
        }
        return result
    }

    @Test func metadataIsLocalAndContentIsFetchedOnceOnRead() async throws {
        let m = try await MountedTree(populate: Self.sampleTree)
        // find and stat of every entry: identical to the source, and nothing fetched.
        let (mounted, source) = try await offPool { (try Self.walk(m.path), try Self.walk(m.source)) }
        #expect(mounted == source)
        #expect(mounted.count > 300)
        #expect(m.fetchCalls == 0, "metadata must not touch the network")
        // Every node has one fixed mtime, BuildStream's staging time.
        let mtimes = try await offPool { () throws -> Set<Int> in
            var st = stat()
            return Set(try ["d1/same2", "bin/tool", "empty-dir", "."].map { path throws -> Int in
                guard lstat(m.path + "/" + path, &st) == 0 else { throw Errno(code: errno) }
                return st.st_mtim.tv_sec
            })
        }
        #expect(mtimes == [1_321_009_871])

        // Every file reads back byte for byte.
        let files = source.filter { $0.value.hasPrefix("file") }.keys.sorted()
        let mismatches = try await offPool {
            try files.filter { try readFile(m.path + "/" + $0) != readFile(m.source + "/" + $0) }
        }
        #expect(mismatches.isEmpty)
        // Each distinct non-empty blob came over exactly once (siblings ride in shared batches).
        var distinct = Set<Digest>()
        for f in files { distinct.insert(Digest(data: try readFile(m.source + "/" + f))) }
        distinct.remove(.empty)
        #expect(m.blobsFetched == distinct.count)
        // Read again: all local, nothing more fetched.
        let before = m.fetchCalls
        _ = try await offPool { try files.map { try readFile(m.path + "/" + $0).count } }
        #expect(m.fetchCalls == before)
        // The small blobs went into packs, not a file each, and a new instance of the store
        // finds them all, whole.
        let small = distinct.filter { $0.sizeBytes <= 128 << 10 }
        #expect(!small.isEmpty && m.store.packedCount == small.count)
        let reopened = try LocalContentStore(root: m.dir.sub("cache"))
        #expect(small.allSatisfy { reopened.contains($0) && !FileManager.default.fileExists(atPath: reopened.path(of: $0)) })
        #expect(try inconsistentBlobs(inCache: m.dir.sub("cache")).isEmpty)
        await m.unmount()
        #expect(!Mountpoint.isMounted(m.path))
    }

    @Test func xattrsReadlinkAndWritesRefused() async throws {
        let m = try await MountedTree(populate: Self.sampleTree)
        let digest = Digest(data: Data("duplicate content\n".utf8))
        let (value, link, mkdirErr, openErr) = try await offPool { () -> (String, String, Int32, Int32) in
            var buffer = [CChar](repeating: 0, count: 256)
            let n = getxattr(m.path + "/same1", "user.reapi.digest", &buffer, 255)
            let value = n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
            let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: m.path + "/bin/link")) ?? ""
            let mk = mkdir(m.path + "/new", 0o755) == 0 ? 0 : errno
            let fd = open(m.path + "/same1", O_WRONLY)
            let op = fd >= 0 ? 0 : errno
            return (value, link, mk, op)
        }
        #expect(value == digest.description)
        #expect(link == "tool")
        #expect(mkdirErr == EROFS)
        #expect(openErr == EROFS)
        var rootBuffer = [CChar](repeating: 0, count: 256)
        let n = getxattr(m.path, "user.reapi.digest", &rootBuffer, 255)
        #expect(String(decoding: rootBuffer[0..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self) == m.root.description)
        await m.unmount()
    }

    @Test func sixtyFourReadersOfOneColdFileCauseOneFetch() async throws {
        let m = try await MountedTree(populate: { $0.file("hot.bin", size: 2_000_000) })
        let path = m.path + "/hot.bin"
        let expected = try readFile(m.source + "/hot.bin")
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<64 { group.addTask { try await offPool { try readFile(path) == expected } } }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 64 && results.allSatisfy { $0 })
        #expect(m.blobsFetched == 1)
        #expect(m.connection.metrics.snapshot.bytesReceived == 2_000_000, "the blob came over once")
        await m.unmount()
    }

    @Test func aWalkOverColdFilesInManyDirectoriesFetchesInBatches() async throws {
        // One file per directory: siblings cannot help, following the walk can.
        let m = try await MountedTree(populate: { t in
            for i in 0..<300 { _ = t.file("d\(i / 30)/e\(i)/f", size: 2000 + i) }
        })
        let files = try await offPool { () -> [String] in
            let walker = FileManager.default.enumerator(atPath: m.path)!
            var files: [String] = []
            while let rel = walker.nextObject() as? String {
                if rel.hasSuffix("/f") { files.append(rel) }
            }
            return files
        }
        #expect(files.count == 300)
        let mismatches = try await offPool {
            try files.filter { try readFile(m.path + "/" + $0) != readFile(m.source + "/" + $0) }
        }
        #expect(mismatches.isEmpty)
        #expect(m.blobsFetched == 300, "each blob once")
        #expect(m.fetchCalls <= 10, "read-ahead batches a walk: \(m.fetchCalls) calls for 300 files")
        await m.unmount()
    }

    @Test func aLargeColdFileIsReadByRangesWhileItStreams() async throws {
        let size = 20 << 20
        let m = try await MountedTree(populate: { $0.file("large.bin", size: size) })
        let expected = try readFile(m.source + "/large.bin")
        // Seek to the end first, then the start: each is served from its own ranged read.
        let (tail, head) = try await offPool { () -> (Data, Data) in
            let fd = open(m.path + "/large.bin", O_RDONLY)
            guard fd >= 0 else { throw Errno(code: errno) }
            defer { close(fd) }
            var tail = [UInt8](repeating: 0, count: 4096), head = [UInt8](repeating: 0, count: 4096)
            guard pread(fd, &tail, 4096, off_t(size - 4096)) == 4096,
                  pread(fd, &head, 4096, 0) == 4096 else { throw Errno(code: errno) }
            return (Data(tail), Data(head))
        }
        #expect(tail == expected.suffix(4096))
        #expect(head == expected.prefix(4096))
        #expect(m.store.contains(Digest(data: expected)), "the blob is stored once verified")
        #expect(try await offPool { try readFile(m.path + "/large.bin") } == expected)
        // 20 MiB as head ranges (64 KiB, to 256 KiB, to 1 MiB) then 8 MiB ranges: six Read
        // calls, nothing fetched twice.
        #expect(m.connection.metrics.snapshot["Read"] == 6)
        #expect(m.connection.metrics.snapshot.bytesReceived == Int64(size))
        #expect(m.blobsFetched == 1)
        await m.unmount()
    }

    @Test func aDeepPathAndAWideDirectoryList() async throws {
        let m = try await MountedTree(populate: { t in
            t.write(Array(repeating: "d", count: 100).joined(separator: "/") + "/leaf", Data("deep\n".utf8))
            for i in 0..<20_000 { t.write("wide/e\(i)", Data()) }
        })
        let (leaf, wide) = try await offPool { () -> (Data, [String]) in
            let leaf = try readFile(m.path + "/" + Array(repeating: "d", count: 100).joined(separator: "/") + "/leaf")
            return (leaf, try FileManager.default.contentsOfDirectory(atPath: m.path + "/wide"))
        }
        #expect(leaf == Data("deep\n".utf8))
        #expect(wide.count == 20_000)
        #expect(Set(wide) == Set((0..<20_000).map { "e\($0)" }))
        await m.unmount()
    }
}

/// Faults between the mount and the remote.
@Suite(.enabled(if: TestEnvironment.fuseTestsEnabled && TestEnvironment.casdTestsEnabled), .serialized)
struct MountFaultTests {
    @Test func aCorruptBlobIsEIONotWrongBytes() async throws {
        let box = ProxyBox()
        let m = try await MountedTree(populate: { $0.file("f", size: 10_000); $0.file("big", size: 5_000_000) },
                                      remote: { casd in try await box.start(casd) })
        box.proxy!.setFaults { $0.corruptReads = true }
        let (small, big) = try await offPool {
            ((try? readFile(m.path + "/f")) == nil ? Errno(code: EIO) : nil,
             (try? readFile(m.path + "/big")) == nil ? Errno(code: EIO) : nil)
        }
        #expect(small != nil && big != nil, "corrupt content must not be served")
        // The first read fetches: a small file's read fails; a large one streams, and its
        // read of the end fails.
        #expect(try await offPool { readError(m.path + "/f") } == EIO)
        let tailError = try await offPool { () -> Int32 in
            let fd = open(m.path + "/big", O_RDONLY)
            guard fd >= 0 else { return -1 }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 100)
            return pread(fd, &buffer, 100, 5_000_000 - 100) < 0 ? errno : 0
        }
        #expect(tailError == EIO)
        #expect(!m.store.contains(Digest(data: try readFile(m.source + "/f"))))
        #expect(!m.store.contains(Digest(data: try readFile(m.source + "/big"))))
        // The mount stays up and recovers when the remote does.
        box.proxy!.setFaults { $0.corruptReads = false }
        let ok = try await offPool { try readFile(m.path + "/f") == readFile(m.source + "/f") }
        #expect(ok)
        await m.unmount()
        await box.proxy!.stop()
    }

    @Test func aRemoteThatIsDownIsEIOUntilItIsBack() async throws {
        let box = ProxyBox()
        let m = try await MountedTree(populate: { $0.file("f", size: 10_000) },
                                      remote: { casd in try await box.start(casd) }, callTimeout: .seconds(8))
        box.proxy!.setFaults { $0.failNext = ["BatchReadBlobs": 1000] }
        let started = ContinuousClock.now
        #expect(try await offPool { readError(m.path + "/f") } == EIO)
        // Within the call's deadline (retries included), with room for a loaded machine.
        #expect(ContinuousClock.now - started < .seconds(20))
        box.proxy!.setFaults { $0.failNext = [:] }
        // A read now fetches again and succeeds; on a machine loaded enough that one call misses
        // its deadline, the one after it does (a mount stuck on the failure would fail all).
        let ok = try await offPool { () throws -> Bool in
            for _ in 1 ..< 3 {
                if let data = try? readFile(m.path + "/f") { return data == (try readFile(m.source + "/f")) }
            }
            return try readFile(m.path + "/f") == readFile(m.source + "/f")
        }
        #expect(ok, "a later read retries and succeeds")
        await m.unmount()
        await box.proxy!.stop()
    }
}

/// Holds the proxy a test creates inside ``MountedTree``'s setup.
final class ProxyBox: @unchecked Sendable {
    var proxy: FaultInjectingProxy?
    func start(_ casd: BuildboxCASD) async throws -> String {
        let p = try await FaultInjectingProxy(upstreamPort: casd.port)
        proxy = p
        return p.url
    }
}
