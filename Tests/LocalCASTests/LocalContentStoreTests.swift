import Foundation
import Glibc
import LocalCAS
import TestSupport
import Testing

@Suite struct LocalContentStoreTests {
    let dir = TemporaryDirectory()

    @Test func storesAndReadsBlobsByDigest() throws {
        let store = try LocalContentStore(root: dir.path)
        let data = Data("some content".utf8)
        let digest = try store.put(data)
        #expect(store.contains(digest))
        #expect(try store.read(digest) == data)
        #expect(store.path(of: digest).hasSuffix("/objects/\(digest.hash.prefix(2))/\(digest.hash.dropFirst(2))"))
        let fd = try store.openForReading(digest)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        #expect(read(fd, &buffer, 64) == data.count)
    }

    @Test func rejectsContentThatDoesNotMatchItsDigest() throws {
        let store = try LocalContentStore(root: dir.path)
        let claimed = Digest(data: Data("right".utf8))
        #expect(throws: CASError.self) { try store.put(Data("wrong".utf8), expecting: claimed) }
        #expect(!store.contains(claimed))
        #expect(throws: CASError.self) { try store.put(Data("right, but longer".utf8), expecting: claimed) }
        #expect(!store.contains(claimed))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/tmp").isEmpty)
    }

    @Test func aWriteThatNeverCommitsLeavesNoVisibleBlob() throws {
        let store = try LocalContentStore(root: dir.path)
        var fixture = TreeFixture(root: dir.sub("src"))
        let data = fixture.file("x", size: 100_000)
        let digest = Digest(data: data)
        do {
            let writer = try store.makeWriter(expecting: digest)
            try writer.write(data.prefix(50_000))
            // The writer is dropped here, as if the process had died mid-write.
        }
        #expect(!store.contains(digest))
        #expect(throws: CASError.self) { try store.read(digest) }
        // A temp file left by a writer that crashed (no deinit ran) is invisible too, and an old
        // one is swept when the store is next opened.
        let stray = dir.path + "/tmp/blob.crashed"
        FileManager.default.createFile(atPath: stray, contents: data.prefix(10))
        #expect(!store.contains(digest))
        var times = [timespec(tv_sec: 1000, tv_nsec: 0), timespec(tv_sec: 1000, tv_nsec: 0)]
        utimensat(AT_FDCWD, stray, &times, 0)
        _ = try LocalContentStore(root: dir.path)
        #expect(!FileManager.default.fileExists(atPath: stray))
    }

    @Test func concurrentWritersOfOneBlobLeaveOneCompleteCopy() async throws {
        let store = try LocalContentStore(root: dir.path)
        var fixture = TreeFixture(root: dir.sub("src"))
        let data = fixture.file("x", size: 300_000)
        let digest = Digest(data: data)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 { group.addTask { try store.put(data, expecting: digest) } }
            try await group.waitForAll()
        }
        #expect(try store.read(digest) == data)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/tmp").isEmpty)
    }

    @Test func importsAFileWhileHashingIt() throws {
        let store = try LocalContentStore(root: dir.path)
        var fixture = TreeFixture(root: dir.sub("src"))
        let data = fixture.file("big", size: 3_000_000)
        let digest = try store.importFile(at: fixture.root + "/big")
        #expect(digest == Digest(data: data))
        #expect(try store.read(digest) == data)
        #expect(throws: CASError.self) { try store.importFile(at: fixture.root + "/big", expecting: .empty) }
    }

    @Test func theEmptyBlobIsAlwaysPresent() throws {
        let store = try LocalContentStore(root: dir.path)
        #expect(store.contains(.empty))
        #expect(try store.read(.empty).isEmpty)
    }

    @Test func aDigestWithTheRightHashButAnotherSizeIsNotTheBlob() async throws {
        let store = try LocalContentStore(root: TemporaryDirectory().path)
        let data = Data("twelve bytes".utf8)
        let digest = try store.put(data)
        let shorter = try Digest(hash: digest.hash, sizeBytes: 5)
        #expect(throws: CASError.self) { try store.openForReading(shorter) }
        #expect(store.available(shorter) == nil)
        #expect(try await store.data(digest) == data)
    }

    /// A blob is written to an unnamed temp file and linked into place: a truncated file left at
    /// its path (a crash of an older writer) is not the blob, and the next put replaces it.
    @Test func aTruncatedLeftoverAtABlobsPathIsReplacedAndBlobsAreReadOnlyWithTheFixedMTime() throws {
        let store = try LocalContentStore(root: dir.path)
        let data = Data(repeating: 7, count: 10_000)
        let digest = Digest(data: data)
        let path = store.path(of: digest)
        try FileManager.default.createDirectory(atPath: String(path[..<path.lastIndex(of: "/")!]), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: data.prefix(10))
        #expect(!store.contains(digest))
        try store.put(data, expecting: digest)
        #expect(try store.read(digest) == data)
        var st = stat()
        #expect(stat(path, &st) == 0)
        #expect(st.st_mode & 0o777 == 0o444)
        #expect(st.st_mtim.tv_sec == LocalContentStore.blobMTime.tv_sec)
        #expect(st.st_nlink == 1)
        // Streamed writes too, and nothing is left in tmp/.
        let big = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let writer = try store.makeWriter(expecting: nil)
        try writer.write(big)
        #expect(try writer.commit() == Digest(data: big))
        #expect(try store.read(Digest(data: big)) == big)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/tmp").isEmpty)
    }
}
