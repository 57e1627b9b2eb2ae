import Foundation
import LocalCAS
import RemoteCAS
import TestSupport
import Testing

/// ``ReadCachingContentStore`` over a real "remote" store with injected faults.
@Suite struct ReadCachingContentStoreTests {
    @Test(arguments: [30_000, 3_000_000])
    func concurrentReadersOfAMissingBlobCauseOneTransfer(size: Int) async throws {
        let f = try StoreFixture()
        let (digest, data) = try f.blobs(1, size: size)[0]
        f.faulty.setFaults { $0.delay = .milliseconds(200) }
        let local = try f.local()
        let cache = ReadCachingContentStore(fast: local, slow: f.faulty)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<32 { group.addTask { try await cache.fetchAll([digest]) } }
            try await group.waitForAll()
        }
        #expect(try local.read(digest) == data)
        let calls = f.faulty.calls
        #expect(calls.filter { $0.operation == .get }.count + calls.filter { $0.operation == .read && $0.range?.lowerBound == 0 }.count == 1,
                "one transfer: \(calls.map(\.operation))")
        // Local now: no more calls.
        _ = try await cache.get(digest)
        #expect(f.faulty.calls.count == calls.count)
    }

    @Test func twoCachesOverOneLocalStoreShareTheirTransfers() async throws {
        let f = try StoreFixture()
        let (digest, _) = try f.blobs(1, size: 50_000)[0]
        f.faulty.setFaults { $0.delay = .milliseconds(300) }
        let local = try f.local()
        // Two views, as a worker gives each action its own (each with its own counters).
        let first = ReadCachingContentStore(fast: local, slow: MetricsContentStore(base: f.faulty, metrics: Metrics()))
        let second = ReadCachingContentStore(fast: try LocalContentStore(root: local.root), slow: f.faulty)
        async let a: Void = first.fetchAll([digest])
        async let b: Void = second.fetchAll([digest])
        _ = try await (a, b)
        #expect(f.faulty.calls.filter { $0.operation == .get }.count == 1)
        #expect(local.contains(digest))
    }

    @Test(arguments: [30_000, 3_000_000])
    func aCorruptBlobIsAnErrorAndIsNotStored(size: Int) async throws {
        let f = try StoreFixture()
        let (digest, data) = try f.blobs(1, size: size)[0]
        f.faulty.setFaults { $0.corrupt = true }
        let local = try f.local()
        let cache = ReadCachingContentStore(fast: local, slow: f.faulty)
        await #expect { try await cache.fetchAll([digest]) } throws: { ($0 as? CASError)?.code == .corrupt }
        #expect(!local.contains(digest))
        #expect(try FileManager.default.contentsOfDirectory(atPath: local.root + "/tmp").isEmpty, "no temp file left")
        f.faulty.setFaults { $0.corrupt = false }
        try await cache.fetchAll([digest])
        #expect(try local.read(digest) == data, "the next read tries again")
    }

    @Test func aLargeBlobIsReadableWhileItArrives() async throws {
        let f = try StoreFixture()
        let (digest, data) = try f.blobs(1, size: 20 << 20)[0]
        let local = try f.local()
        let cache = ReadCachingContentStore(fast: local, slow: f.faulty)
        guard case .arriving(let incoming) = try await cache.get(digest) else {
            Issue.record("a cold large blob should arrive as a stream"); return
        }
        #expect(cache.available(digest) != nil, "readers that come later join the stream")
        try await incoming.wait(offset: 0, count: 4096)
        #expect(try await Blob.arriving(incoming).read(0..<4096) == data.prefix(4096))
        try await incoming.complete()
        #expect(try local.read(digest) == data)
        let reads = f.faulty.calls.filter { $0.operation == .read }.compactMap(\.range).sorted { $0.lowerBound < $1.lowerBound }
        let (kib, mib): (Int64, Int64) = (1 << 10, 1 << 20)
        #expect(reads == [0..<64 * kib, 64 * kib..<256 * kib, 256 * kib..<mib, mib..<9 * mib, 9 * mib..<17 * mib, 17 * mib..<20 * mib],
                "growing head ranges, then 8 MiB ones: \(reads)")
    }

    /// A blob fetched only to be stored (`fetchAll`: checkouts, builds) has no reader waiting
    /// for its first bytes: no small head ranges, no extra round trips.
    @Test func aBlobFetchedToBeStoredTravelsInWholeRanges() async throws {
        let f = try StoreFixture()
        let (digest, data) = try f.blobs(1, size: 20 << 20)[0]
        let local = try f.local()
        try await ReadCachingContentStore(fast: local, slow: f.faulty).fetchAll([digest])
        #expect(try local.read(digest) == data)
        let reads = f.faulty.calls.filter { $0.operation == .read }.compactMap(\.range).sorted { $0.lowerBound < $1.lowerBound }
        let mib: Int64 = 1 << 20
        #expect(reads == [0..<8 * mib, 8 * mib..<16 * mib, 16 * mib..<20 * mib], "\(reads)")
    }

    /// A first read larger than the first range (`cat`'s 128 KiB) asks for the next range at
    /// once rather than after the first has ended.
    @Test func aFirstReadPastTheFirstRangeAsksForTheNextAtOnce() async throws {
        let f = try StoreFixture()
        let (digest, data) = try f.blobs(1, size: 12 << 20)[0]
        f.faulty.setFaults { $0.delay = .milliseconds(50) }
        let local = try f.local()
        let cache = ReadCachingContentStore(fast: local, slow: f.faulty)
        guard case .arriving(let incoming) = try await cache.get(digest) else {
            Issue.record("a cold large blob should arrive as a stream"); return
        }
        try await incoming.wait(offset: 0, count: 128 << 10)
        #expect(try await Blob.arriving(incoming).read(0..<(128 << 10)) == data.prefix(128 << 10))
        #expect(f.faulty.readsBeforeData == 2, "\(f.faulty.calls.map(\.range))")
        try await incoming.complete()
        #expect(try local.read(digest) == data)
    }

    /// The first range of a cold large blob travels alone until its first bytes are in (the
    /// reader waiting for them shares nothing with megabytes of later ranges); then the rest
    /// go several at a time.
    @Test func theFirstRangeTravelsAloneUntilItsFirstBytesAreIn() async throws {
        let f = try StoreFixture()
        let (digest, data) = try f.blobs(1, size: 30 << 20)[0]
        f.faulty.setFaults { $0.delay = .milliseconds(50) }
        let local = try f.local()
        let cache = ReadCachingContentStore(fast: local, slow: f.faulty)
        guard case .arriving(let incoming) = try await cache.get(digest) else {
            Issue.record("a cold large blob should arrive as a stream"); return
        }
        try await incoming.wait(offset: 0, count: 4096)
        try await incoming.complete()
        #expect(try local.read(digest) == data)
        #expect(f.faulty.readsBeforeData == 1, "\(f.faulty.calls.map(\.range))")
        #expect(f.faulty.mostConcurrent > 1, "later ranges still travel together")
    }

    @Test func aBlobTheRemoteLacksIsNotFound() async throws {
        let f = try StoreFixture()
        let cache = ReadCachingContentStore(fast: try f.local(), slow: f.faulty)
        await #expect { try await cache.fetchAll([Digest(data: Data("absent".utf8))]) }
            throws: { ($0 as? CASError)?.code == .notFound }
    }

    @Test func manyLargeBlobsStreamAFewAtATime() async throws {
        let f = try StoreFixture()
        // Over the batch limit: these stream even when fetched together.
        let blobs = try f.blobs(6, size: 4_000_000)
        f.faulty.setFaults { $0.delay = .milliseconds(100) }
        let local = try f.local()
        try await ReadCachingContentStore(fast: local, slow: f.faulty, parallelChunks: 1, concurrentStreams: 2).fetchAll(blobs.map(\.digest))
        for (digest, data) in blobs { #expect(try local.read(digest) == data) }
        #expect(f.faulty.mostConcurrent == 2, "two streams of one ranged read each at a time")
    }

    @Test func blobsWithinTheBatchLimitFetchedTogetherTravelInBatches() async throws {
        let f = try StoreFixture()
        let blobs = try f.blobs(3, size: 1_500_000)
        let local = try f.local()
        try await ReadCachingContentStore(fast: local, slow: f.faulty).fetchAll(blobs.map(\.digest))
        for (digest, data) in blobs { #expect(try local.read(digest) == data) }
        #expect(f.faulty.calls.map(\.operation) == [.get], "one get, no ranged reads: \(f.faulty.calls.map(\.operation))")
        // Read by a reader on its own, a blob this size streams (its first bytes come sooner).
        let single = try f.blobs(1, size: 1_500_000)[0].digest
        guard case .arriving = try await ReadCachingContentStore(fast: local, slow: f.faulty).get(single) else {
            Issue.record("a 1.5 MB blob read alone should stream"); return
        }
    }
}
