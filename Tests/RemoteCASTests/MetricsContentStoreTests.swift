import Foundation
import LocalCAS
import RemoteCAS
import TestSupport
import Testing

/// ``MetricsContentStore`` counts what passes through it.
@Suite struct MetricsContentStoreTests {
    @Test func blobsAndBytesAreCountedOnceEach() async throws {
        let f = try StoreFixture()
        let blobs = try f.blobs(3, size: 1000)
        let large = try f.blobs(1, size: 3 << 20)[0]
        let metrics = Metrics()
        let store = MetricsContentStore(base: f.faulty, metrics: metrics)
        _ = try await store.getAll(blobs.map(\.digest))
        #expect(metrics.snapshot.blobsReceived == 3 && metrics.snapshot.bytesReceived == 3000)
        // A blob read in two ranges counts once, its bytes each time.
        _ = try await store.read(large.digest, range: 0..<(1 << 20))
        _ = try await store.read(large.digest, range: (1 << 20)..<large.digest.sizeBytes)
        #expect(metrics.snapshot.blobsReceived == 4 && metrics.snapshot.bytesReceived == 3000 + (3 << 20))
        let data = Data("sent".utf8)
        try await store.put([Digest(data: data): .bytes(data)])
        #expect(metrics.snapshot.blobsSent == 1 && metrics.snapshot.bytesSent == 4)
        #expect(metrics.snapshot.totalCalls == 0, "calls are the connection's to count")
    }

    @Test func failuresAreNotCountedAsReceived() async throws {
        let f = try StoreFixture()
        let metrics = Metrics()
        _ = try? await MetricsContentStore(base: f.faulty, metrics: metrics).getAll([Digest(data: Data("absent".utf8))])
        #expect(metrics.snapshot.blobsReceived == 0)
    }
}
