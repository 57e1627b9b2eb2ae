import Foundation
import Glibc
import LocalCAS
import RemoteCAS
import TestSupport
import Testing

/// Faults injected between the client and a real buildbox-casd.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled), .serialized)
struct FaultTests {
    @Test(arguments: [20_000, 5_000_000])
    func aCorruptBlobIsRejectedAndNotStored(size: Int) async throws {
        let casd = try await BuildboxCASD()
        let proxy = try await FaultInjectingProxy(upstreamPort: casd.port)
        let dir = TemporaryDirectory()
        var fixture = TreeFixture(root: dir.sub("src"))
        let data = fixture.file("blob", size: size)
        let digest = Digest(data: data)
        let store = try LocalContentStore(root: dir.sub("cache"))
        let config = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: proxy.url))
        try await RemoteConnection.with(config) { connection in
                        _ = try await connection.store.upload([digest: .bytes(data)])
            proxy.setFaults { $0.corruptReads = true }
            let fetcher = ReadCachingContentStore(fast: store, slow: connection.store)
            await #expect { try await fetcher.fetchAll([digest]) } throws: { ($0 as? CASError)?.code == .corrupt }
            #expect(!store.contains(digest))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/cache/tmp").isEmpty)
            // The fault clears: the next request succeeds.
            proxy.setFaults { $0.corruptReads = false }
            try await fetcher.fetchAll([digest])
        }
        #expect(try store.read(digest) == data)
        await proxy.stop()
    }

    @Test func unavailableTwiceThenSuccessIsRetriedToSuccess() async throws {
        let casd = try await BuildboxCASD()
        let proxy = try await FaultInjectingProxy(upstreamPort: casd.port)
        let dir = TemporaryDirectory()
        let data = Data("retry me".utf8)
        let digest = Digest(data: data)
        let config = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: proxy.url))
        let counters = Metrics()
        try await RemoteConnection.with(config, metrics: counters) { connection in
                        proxy.setFaults { $0.failNext = ["FindMissingBlobs": 2, "BatchReadBlobs": 2] }
            let summary = try await connection.store.upload([digest: .bytes(data)])
            #expect(summary.missing == 1)
            try await ReadCachingContentStore(fast: LocalContentStore(root: dir.sub("other")), slow: connection.store).fetchAll([digest])
        }
        #expect(proxy.calls("FindMissingBlobs") == 3)
        #expect(proxy.calls("BatchReadBlobs") == 3)
        #expect(counters.snapshot["FindMissingBlobs"] == 3, "the client counts every attempt")
        await proxy.stop()
    }

    @Test func aServerThatIsDownFailsFastWithARemoteError() async throws {
        let config = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: "grpc://127.0.0.1:\(freeLoopbackPort())"),
                                         callTimeout: .seconds(30))
        let dir = TemporaryDirectory()
        let store = try LocalContentStore(root: dir.path)
        let started = ContinuousClock.now
        try await RemoteConnection.with(config) { connection in
            await #expect { try await ReadCachingContentStore(fast: store, slow: connection.store).fetchAll([Digest(data: Data("x".utf8))]) }
                throws: { ($0 as? CASError)?.code == .remote }
        }
        // Well under the 30 s deadline (the bound allows a loaded machine: 8.2 s was seen).
        #expect(ContinuousClock.now - started < .seconds(20), "a refused connection fails fast, without waiting out the deadline")
    }

    @Test func aServerThatNeverAnswersHitsTheDeadline() async throws {
        // A listener that accepts connections and never speaks: the worst kind of down.
        let (fd, port) = bindLoopbackSocket()
        defer { close(fd) }
        #expect(listen(fd, 16) == 0)
        let config = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: "grpc://127.0.0.1:\(port)"),
                                         callTimeout: .seconds(2), maxAttempts: 2)
        let started = ContinuousClock.now
        try await RemoteConnection.with(config) { connection in
            await #expect { _ = try await connection.store.findMissing([Digest(data: Data("x".utf8))]) }
                throws: { ($0 as? CASError)?.code == .remote }
        }
        // 2 attempts of 2 s plus backoff; the bound allows a loaded machine (15.9 s was seen
        // while the suite's bst builds ran). Without a deadline this call never returns.
        #expect(ContinuousClock.now - started < .seconds(30), "the deadline bounds a silent server")
    }
}
