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
            let client = CASClient(connection: connection)
            _ = try await Uploader(client: client, store: store).upload([digest: .data(data)])
            proxy.setFaults { $0.corruptReads = true }
            let fetcher = BlobFetcher(client: client, store: store)
            await #expect { try await fetcher.fetch(digest) } throws: { ($0 as? CASError)?.code == .corrupt }
            #expect(!store.contains(digest))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/cache/tmp").isEmpty)
            // The fault clears: the next request succeeds.
            proxy.setFaults { $0.corruptReads = false }
            try await fetcher.fetch(digest)
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
        let store = try LocalContentStore(root: dir.path)
        let config = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: proxy.url))
        let counters = RPCCounters()
        try await RemoteConnection.with(config, counters: counters) { connection in
            let client = CASClient(connection: connection)
            proxy.setFaults { $0.failNext = ["FindMissingBlobs": 2, "BatchReadBlobs": 2] }
            let summary = try await Uploader(client: client, store: store).upload([digest: .data(data)])
            #expect(summary.missing == 1)
            try await BlobFetcher(client: client, store: LocalContentStore(root: dir.sub("other"))).fetch(digest)
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
            await #expect { try await BlobFetcher(client: CASClient(connection: connection), store: store).fetch(Digest(data: Data("x".utf8))) }
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
            await #expect { _ = try await CASClient(connection: connection).findMissing([Digest(data: Data("x".utf8))]) }
                throws: { ($0 as? CASError)?.code == .remote }
        }
        #expect(ContinuousClock.now - started < .seconds(15), "the deadline bounds a silent server")
    }
}
