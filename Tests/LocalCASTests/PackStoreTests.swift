import Foundation
import Glibc
import LocalCAS
import TestSupport
import Testing

/// Small blobs stored with `packing: true` go into packs under `ROOT/packs/`.
@Suite struct PackStoreTests {
    let dir = TemporaryDirectory()

    static func blob(_ i: Int, size: Int = 10_000) -> Data {
        Data((0 ..< size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &* 7) })
    }

    /// The pack files under the store, by suffix.
    func packFiles(_ suffix: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path + "/packs").filter { $0.hasSuffix(suffix) }.sorted()
    }

    @Test func packedBlobsReadBackInPlaceAndSurviveANewInstance() throws {
        let store = try LocalContentStore(root: dir.path)
        let small = (0 ..< 3).map { Self.blob($0) }
        let large = Self.blob(9, size: 200_000)
        for data in small + [large] { try store.put(data, expecting: Digest(data: data), packing: true) }
        #expect(store.packedCount == 3)
        #expect(try packFiles(".pack").count == 1)
        for data in small {
            let digest = Digest(data: data)
            #expect(store.contains(digest))
            #expect(!FileManager.default.fileExists(atPath: store.path(of: digest)))
            #expect(try store.read(digest) == data)
            let file = try store.openFile(digest)
            #expect(try file.read(0 ..< Int64(data.count + 500)) == data, "a read past the end stops at the blob's end")
            #expect(try file.read(100 ..< 200) == data[100 ..< 200])
            #expect(file.span(offset: Int64(data.count) - 10, size: 4096).size == 10)
        }
        #expect(FileManager.default.fileExists(atPath: store.path(of: Digest(data: large))), "a large blob is a file of its own")

        let again = try LocalContentStore(root: dir.path)
        #expect(again.packedCount == 3)
        for data in small { #expect(try again.read(Digest(data: data)) == data) }
        #expect(try inconsistentBlobs(inCache: dir.path).isEmpty)
    }

    @Test func aBlobThatDoesNotMatchItsDigestIsNotPacked() throws {
        let store = try LocalContentStore(root: dir.path)
        let claimed = Digest(data: Self.blob(1))
        #expect(throws: CASError.self) { try store.put(Self.blob(2), expecting: claimed, packing: true) }
        #expect(!store.contains(claimed))
        #expect(store.packedCount == 0)
    }

    @Test func whoeverNeedsAFileGetsOneMadeFromThePack() throws {
        let store = try LocalContentStore(root: dir.path)
        let data = Self.blob(4)
        let digest = Digest(data: data)
        try store.put(data, expecting: digest, packing: true)
        let path = try store.linkablePath(of: digest)
        #expect(FileManager.default.contents(atPath: path) == data)
        let fd = try store.openForReading(digest)
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: data.count + 10)
        #expect(read(fd, &buffer, buffer.count) == data.count)

        // A checkout with hard links of a tree whose file is only packed.
        var fixture = TreeFixture(root: dir.sub("src"))
        let other = fixture.file("f", size: 5000)
        let root = try TreeImporter(store: store, storeFiles: false).importDirectory(at: fixture.root).root
        try store.put(other, expecting: Digest(data: other), packing: true)
        let out = dir.sub("out")
        let summary = try TreeCheckout(store: store, hardlink: true).write(root, into: out)
        #expect(FileManager.default.contents(atPath: out + "/f") == other)
        #expect(summary.hardlinks == 1)
    }

    @Test func aTornIndexOrACutPackLosesOnlyTheBlobsItCut() throws {
        let blobs = (0 ..< 3).map { Self.blob($0) }
        do {
            let store = try LocalContentStore(root: dir.path)
            for data in blobs { try store.put(data, expecting: Digest(data: data), packing: true) }
        }
        let pack = dir.path + "/packs/" + (try packFiles(".pack"))[0]
        let index = dir.path + "/packs/" + (try packFiles(".index"))[0]
        // The last blob's bytes cut short, and half a record after the last whole one.
        #expect(truncate(pack, off_t(2 * 10_000 + 5_000)) == 0)
        let handle = try #require(FileHandle(forWritingAtPath: index))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(repeating: 0xab, count: 20))
        try handle.close()

        let store = try LocalContentStore(root: dir.path)
        #expect(store.packedCount == 2)
        #expect(try store.read(Digest(data: blobs[0])) == blobs[0])
        #expect(try store.read(Digest(data: blobs[1])) == blobs[1])
        #expect(!store.contains(Digest(data: blobs[2])))
        try store.put(blobs[2], expecting: Digest(data: blobs[2]), packing: true)
        #expect(try store.read(Digest(data: blobs[2])) == blobs[2])
        #expect(try inconsistentBlobs(inCache: dir.path).isEmpty)
    }

    @Test func anIndexOfAnotherFormatIsIgnored() throws {
        do {
            let store = try LocalContentStore(root: dir.path)
            try store.put(Self.blob(1), expecting: Digest(data: Self.blob(1)), packing: true)
        }
        let index = dir.path + "/packs/" + (try packFiles(".index"))[0]
        var bytes = try #require(FileManager.default.contents(atPath: index))
        bytes[0] = UInt8(ascii: "X")
        chmod(index, 0o644)
        try bytes.write(to: URL(fileURLWithPath: index))
        #expect(try LocalContentStore(root: dir.path).packedCount == 0)
    }

    @Test func concurrentWritersLoseNothing() async throws {
        let store = try LocalContentStore(root: dir.path)
        let blobs = (0 ..< 200).map { Self.blob($0, size: 100 + $0 * 37) }
        await withTaskGroup(of: Void.self) { group in
            for data in blobs + blobs {
                group.addTask { try? store.put(data, expecting: Digest(data: data), packing: true) }
            }
        }
        #expect(store.packedCount == 200)
        for data in blobs { #expect(try store.read(Digest(data: data)) == data) }
        #expect(try LocalContentStore(root: dir.path).packedCount == 200)
    }

    /// Blobs 0-1 packed by one store instance and 2-3 by another, both alive at once.
    static func twoPacks(_ blobs: [Data], in root: String) throws {
        let first = try LocalContentStore(root: root), second = try LocalContentStore(root: root)
        for (store, pair) in [(first, blobs[0 ..< 2]), (second, blobs[2 ..< 4])] {
            for data in pair { try store.put(data, expecting: Digest(data: data), packing: true) }
        }
    }

    @Test func aLaterInstanceAppendsToAPackWithRoomButNeverToOneInUse() throws {
        let blobs = (0 ..< 3).map { Self.blob($0) }
        do {
            let store = try LocalContentStore(root: dir.path)
            try store.put(blobs[0], expecting: Digest(data: blobs[0]), packing: true)
        }
        let later = try LocalContentStore(root: dir.path)
        try later.put(blobs[1], expecting: Digest(data: blobs[1]), packing: true)
        #expect(try packFiles(".pack").count == 1, "the pack the first instance left had room")
        // While `later` appends to it, another instance starts a pack of its own.
        let meanwhile = try LocalContentStore(root: dir.path)
        try meanwhile.put(blobs[2], expecting: Digest(data: blobs[2]), packing: true)
        #expect(try packFiles(".pack").count == 2)
        let all = try LocalContentStore(root: dir.path)
        #expect(all.packedCount == 3)
        for data in blobs { #expect(try all.read(Digest(data: data)) == data) }
        #expect(try inconsistentBlobs(inCache: dir.path).isEmpty)
    }

    @Test func theQuotaEvictsTheOldestWholePackAndNeverOneHoldingAPinnedBlob() throws {
        let blobs = (0 ..< 4).map { Self.blob($0) }
        // Two instances alive at once, two packs: blobs 0-1 in the first, 2-3 in the second.
        try Self.twoPacks(blobs, in: dir.path)
        let store = try LocalContentStore(root: dir.path)
        var packs: [(id: String, digests: [Digest])] = []
        store.forEachPack { id, bytes, _, digests in
            #expect(bytes == 20_000)
            packs.append((id, digests))
        }
        #expect(packs.count == 2)
        let older = try #require(packs.first { $0.digests.contains(Digest(data: blobs[0])) })
        // The first pack was last used an hour ago.
        var times = [timespec(tv_sec: time(nil) - 3600, tv_nsec: 0), FileTime.omit]
        #expect(utimensat(AT_FDCWD, "\(dir.path)/packs/\(older.id).pack", &times, 0) == 0)

        let pinned = try LocalContentStore(root: dir.path)
        let guarded = StoreQuota(store: pinned, maxBytes: 30_000)
        #expect(guarded.usage == 40_000)
        guarded.pin([Digest(data: blobs[1])])
        guarded.added(0)
        #expect(pinned.contains(Digest(data: blobs[0])), "the older pack holds a pinned blob")
        #expect(!pinned.contains(Digest(data: blobs[2])))
        #expect(guarded.usage == 20_000)

        try FileManager.default.removeItem(atPath: dir.path)
        try Self.twoPacks(blobs, in: dir.path)
        let plain = try LocalContentStore(root: dir.path)
        plain.forEachPack { id, _, _, digests in
            guard digests.contains(Digest(data: blobs[0])) else { return }
            var times = [timespec(tv_sec: time(nil) - 3600, tv_nsec: 0), FileTime.omit]
            utimensat(AT_FDCWD, "\(dir.path)/packs/\(id).pack", &times, 0)
        }
        StoreQuota(store: plain, maxBytes: 30_000).added(0)
        #expect(!plain.contains(Digest(data: blobs[0])) && !plain.contains(Digest(data: blobs[1])), "the older pack went")
        #expect(plain.contains(Digest(data: blobs[2])) && plain.contains(Digest(data: blobs[3])))
        #expect(try packFiles(".pack").count == 1 && packFiles(".index").count == 1)
    }
}
