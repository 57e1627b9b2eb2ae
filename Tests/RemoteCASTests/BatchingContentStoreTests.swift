import Foundation
import LocalCAS
import REAPI
import RemoteCAS
import Synchronization
import TestSupport
import Testing

/// ``BatchingContentStore`` over a real store that records the calls it gets.
@Suite struct BatchingContentStoreTests {
    static func batching(_ f: StoreFixture, limit: Int64 = 10_000, concurrency: Int = 4) -> BatchingContentStore {
        BatchingContentStore(base: f.faulty, concurrency: concurrency, batchLimit: { () async throws(CASError) in limit })
    }

    @Test func findMissingIsSplitAtTheRequestLimit() async throws {
        let f = try StoreFixture()
        let count = 2 * GRPCContentStore.findMissingLimit + 1
        let digests = (0..<count).map { Digest(data: Data("absent \($0)".utf8)) }
        let missing = try await Self.batching(f).findMissing(digests + digests.prefix(10))
        #expect(missing == Set(digests))
        #expect(f.faulty.calls.map(\.digests.count) == [GRPCContentStore.findMissingLimit, GRPCContentStore.findMissingLimit, 1])
    }

    /// Batches fill up to the limit, counting each entry's framing as well as its bytes (with
    /// tiny blobs the framing is most of the message), and blobs over it go alone.
    @Test(arguments: [1000, 10])
    func smallBlobsArePackedWithinTheLimitAndLargeOnesGoAlone(size: Int) async throws {
        let f = try StoreFixture()
        let count = 30_000 / size
        let small = try f.blobs(count, size: size), large = try f.blobs(2, size: 20_000)
        let got = try await Self.batching(f).getAll((small + large).map(\.digest))
        for (digest, data) in small + large { #expect(try await got[digest]!.data(size: digest.sizeBytes) == data) }
        let calls = f.faulty.calls
        let batches = calls.filter { $0.digests.count > 1 }
        #expect(Set(calls.filter { $0.digests.count == 1 }.flatMap(\.digests)) == Set(large.map(\.digest)))
        #expect(batches.reduce(0) { $0 + $1.digests.count } == count)
        let fewest = batches.map(\.digests.count).min()
        for call in batches {
            // The whole message as it goes on the wire, framing included, fits the limit.
            var request = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest()
            request.requests = call.digests.map { digest in
                var entry = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest.Request()
                entry.digest = digest.proto
                entry.data = Data(count: Int(digest.sizeBytes))
                return entry
            }
            let bytes: Data = try request.serializedBytes()
            #expect(bytes.count <= 10_000, "\(call.digests.count) blobs of \(size) B")
            // And, but for the last one, not far under it (the framing counted is an upper bound).
            if call.digests.count != fewest {
                #expect(bytes.count > 6_000, "\(call.digests.count) blobs of \(size) B")
            }
        }
    }

    @Test func aBatchKeepsTheOrderItWasAskedIn() async throws {
        let f = try StoreFixture()
        let blobs = try f.blobs(5, size: 100) + f.blobs(5, size: 300)
        let asked = blobs.map(\.digest).shuffled()
        let order = Mutex<[Digest]>([])
        await Self.batching(f).get(asked) { digest, _ in order.withLock { $0.append(digest) } }
        #expect(f.faulty.calls.map(\.digests) == [asked])
        #expect(order.withLock { $0 } == asked)
    }

    @Test func putsRunAtMostConcurrencyCallsAtOnce() async throws {
        let f = try StoreFixture()
        f.faulty.setFaults { $0.delay = .milliseconds(100) }
        let blobs = (0..<12).map { i in Data(repeating: UInt8(i), count: 9_000) }
        let batching = Self.batching(f, concurrency: 3)
        try await batching.put(Dictionary(uniqueKeysWithValues: blobs.map { (Digest(data: $0), Blob.bytes($0)) }))
        #expect(f.faulty.calls.count == 12, "9 KB blobs do not share a 10 KB batch")
        #expect(f.faulty.mostConcurrent == 3)
        for data in blobs { #expect(try f.remote.read(Digest(data: data)) == data) }
    }
}
