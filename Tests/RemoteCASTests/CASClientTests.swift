import Foundation
import LocalCAS
import RemoteCAS
import TestSupport
import Testing

/// The remote CAS client against both servers, buildbox-casd and `lazycas serve`: one suite,
/// two implementations of the protocol, the same expectations.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled), .serialized)
struct CASClientTests {
    /// 1,000 small files and three files over the 3.5 MiB batch limit.
    static let largeFiles = [4_500_000, 5_000_000, 9_000_000]

    @Test(arguments: ServerKind.allCases)
    func putUploadsEverythingOnceAndASecondPutSendsNothing(_ kind: ServerKind) async throws {
        let t = try await UploadedTree.make(on: kind, files: 1000, largeFiles: Self.largeFiles)
        let store = try t.freshStore("again")
        let tree = try TreeImporter(store: store, storeFiles: false).importDirectory(at: t.source)
        #expect(tree.root == t.tree.root)
        let counters = Metrics()
        try await RemoteConnection.with(t.server.configuration, metrics: counters) { connection in
                        #expect(try await connection.store.findMissing(Array(tree.blobSources.keys)).isEmpty, "the first put left blobs missing")
            let summary = try await connection.store.upload(tree.blobSources)
            #expect(summary.missing == 0)
        }
        let calls = counters.snapshot
        #expect(calls["FindMissingBlobs"] == 2)
        #expect(calls["BatchUpdateBlobs"] == 0)
        #expect(calls["Write"] == 0)
        #expect(calls.bytesSent == 0)
    }

    @Test(arguments: ServerKind.allCases)
    func uploadSendsSmallBlobsInBatchesAndLargeOnesByStream(_ kind: ServerKind) async throws {
        let casd = try await TestServer.start(kind)
        let dir = TemporaryDirectory()
        var fixture = TreeFixture(root: dir.sub("src"))
        fixture.populate(files: 300, largeFiles: Self.largeFiles)
        let store = try LocalContentStore(root: dir.sub("cache"))
        let tree = try TreeImporter(store: store, storeFiles: false).importDirectory(at: fixture.root)
        let counters = Metrics()
        let summary = try await RemoteConnection.with(casd.configuration, metrics: counters) { connection in
            try await connection.store.upload(tree.blobSources)
        }
        let calls = counters.snapshot
        #expect(summary.missing == tree.blobSources.keys.filter { $0 != .empty }.count, "a fresh server lacks every blob but the empty one")
        #expect(calls["FindMissingBlobs"] == 1, "one FindMissingBlobs for the whole set")
        #expect(calls["Write"] == Self.largeFiles.count)
        let smallBytes = tree.blobSources.keys.filter { $0.sizeBytes <= GRPCContentStore.defaultBatchLimit }.reduce(0) { $0 + $1.sizeBytes }
        #expect(calls["BatchUpdateBlobs"] >= Int((smallBytes + GRPCContentStore.defaultBatchLimit - 1) / GRPCContentStore.defaultBatchLimit))
        #expect(calls["BatchUpdateBlobs"] <= Int(smallBytes / GRPCContentStore.defaultBatchLimit) + 3, "batches are packed")
        #expect(calls.bytesSent == summary.bytesSent)
    }

    @Test(arguments: ServerKind.allCases)
    func getTreeBringsEveryDirectoryNodeAndNoFileBlob(_ kind: ServerKind) async throws {
        let t = try await UploadedTree.make(on: kind, files: 1000, largeFiles: Self.largeFiles)
        let store = try t.freshStore("fresh")
        let counters = Metrics()
        let fetched = try await RemoteConnection.with(t.server.configuration, metrics: counters) { connection in
            try await TreeFetcher(store: store, connection: connection)
                .fetchTree(t.tree.root)
        }
        #expect(fetched == t.tree.directories.count)
        #expect(Set(store.allDigests()) == Set(t.tree.directories.keys))
        for file in t.tree.files.keys where file.sizeBytes > 0 { #expect(!store.contains(file)) }
        #expect(counters.snapshot["GetTree"] == 1)
        #expect(counters.snapshot["BatchReadBlobs"] == 0)
        // Complete now: a second fetch sends nothing.
        let again = Metrics()
        let refetched = try await RemoteConnection.with(t.server.configuration, metrics: again) { connection in
            try await TreeFetcher(store: store, connection: connection)
                .fetchTree(t.tree.root)
        }
        #expect(refetched == 0)
        #expect(again.snapshot.totalCalls == 0)
    }

    @Test(arguments: ServerKind.allCases)
    func fetchingOneFileFetchesExactlyThatBlob(_ kind: ServerKind) async throws {
        let t = try await UploadedTree.make(on: kind, files: 200, largeFiles: [5_000_000])
        let store = try t.freshStore("fresh")
        let counters = Metrics()
        let (small, large) = (t.tree.files.first { $0.key.sizeBytes > 0 && $0.key.sizeBytes < 100_000 }!,
                              t.tree.files.first { $0.key.sizeBytes == 5_000_000 }!)
        try await RemoteConnection.with(t.server.configuration, metrics: counters) { connection in
            let fetcher = ReadCachingContentStore(fast: store, slow: connection.store)
            try await fetcher.fetchAll([small.key])
            #expect(counters.snapshot["BatchReadBlobs"] == 1)
            #expect(objectCount(store) == 1)
            try await fetcher.fetchAll([large.key])
            #expect(counters.snapshot["Read"] >= 1, "a blob over the batch limit streams")
            #expect(objectCount(store) == 2)
            try await fetcher.fetchAll([small.key])  // local now: no call
        }
        #expect(try store.read(small.key) == FileManager.default.contents(atPath: small.value))
        #expect(try store.read(large.key) == FileManager.default.contents(atPath: large.value))
        #expect(counters.snapshot.blobsReceived == 2)
        #expect(counters.snapshot.bytesReceived == small.key.sizeBytes + large.key.sizeBytes, "exactly those two blobs")
    }

    @Test(arguments: ServerKind.allCases, [30_000, 6_000_000])
    func concurrentRequestsForOneMissingBlobMakeOneTransfer(_ kind: ServerKind, size: Int) async throws {
        let casd = try await TestServer.start(kind)
        let dir = TemporaryDirectory()
        var fixture = TreeFixture(root: dir.sub("src"))
        let data = fixture.file("blob", size: size)
        let digest = Digest(data: data)
        let store = try LocalContentStore(root: dir.sub("cache"))
        let counters = Metrics()
        try await RemoteConnection.with(casd.configuration, metrics: counters) { connection in
                        _ = try await connection.store.upload([digest: .bytes(data)])
            let before = counters.snapshot
            let fetcher = ReadCachingContentStore(fast: store, slow: connection.store)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<32 { group.addTask { try await fetcher.fetchAll([digest]) } }
                try await group.waitForAll()
            }
            let after = counters.snapshot
            #expect(after.blobsReceived - before.blobsReceived == 1)
            #expect(after.bytesReceived - before.bytesReceived == Int64(size), "one transfer")
        }
        #expect(try store.read(digest) == data)
    }

    @Test(arguments: ServerKind.allCases)
    func aBlobTheServerLacksIsNotFound(_ kind: ServerKind) async throws {
        let casd = try await TestServer.start(kind)
        let dir = TemporaryDirectory()
        let store = try LocalContentStore(root: dir.path)
        let absent = Digest(data: Data("never uploaded".utf8))
        try await RemoteConnection.with(casd.configuration) { connection in
            let fetcher = ReadCachingContentStore(fast: store, slow: connection.store)
            await #expect { try await fetcher.fetchAll([absent]) } throws: { ($0 as? CASError)?.code == .notFound }
        }
        #expect(!store.contains(absent))
    }
}
