import Foundation
import Glibc
import LocalCAS
import TestSupport
import Testing

@Suite struct PartialBlobTests {
    let dir = TemporaryDirectory()

    @Test func rangesWrittenOutOfOrderAreReadableAndCommitVerified() throws {
        let store = try LocalContentStore(root: dir.path)
        var fixture = TreeFixture(root: dir.sub("src"))
        let data = fixture.file("x", size: 300_000)
        let digest = Digest(data: data)
        let blob = try PartialBlob(store: store, digest: digest)
        try blob.write(data.subdata(in: 200_000..<300_000), at: 200_000)
        #expect(!store.contains(digest), "nothing is visible before the commit")
        var tail = [UInt8](repeating: 0, count: 10)
        #expect(pread(blob.fd, &tail, 10, 299_990) == 10)
        #expect(Data(tail) == data.suffix(10))
        try blob.write(data.prefix(200_000), at: 0)
        try blob.commit()
        #expect(try store.read(digest) == data)
        // The descriptor still reads the (now published) blob.
        #expect(pread(blob.fd, &tail, 10, 0) == 10)
        #expect(Data(tail) == data.prefix(10))
    }

    @Test func aWrongOrIncompleteBlobIsNeverPublished() throws {
        let store = try LocalContentStore(root: dir.path)
        let data = Data(repeating: 7, count: 10_000)
        let digest = Digest(data: data)
        let wrong = try PartialBlob(store: store, digest: digest)
        try wrong.write(Data(repeating: 8, count: 10_000), at: 0)
        #expect(throws: CASError.self) { try wrong.commit() }
        let short = try PartialBlob(store: store, digest: digest)
        try short.write(data.prefix(9_999), at: 0)
        #expect(throws: CASError.self) { try short.commit() }
        #expect(throws: CASError.self) { try short.write(Data([1, 2]), at: 9_999) }
        #expect(!store.contains(digest))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/tmp").isEmpty)
    }
}
