import Foundation
import GRPCCore
import LocalCAS
import REAPI
import RemoteCAS
import TestSupport
import Testing

/// The CAS and ByteStream protocol as both servers must speak it, bad input included: the
/// right status for each mistake, nothing stored that should not be, and the server still up.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled), .serialized)
struct ProtocolConformanceTests {
    @Test(arguments: ServerKind.allCases)
    func byteStreamReadsRangesAndRejectsBadResourceNames(_ kind: ServerKind) async throws {
        let server = try await TestServer.start(kind)
        let data = Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        let digest = Digest(data: data)
        try await Stubs.with(server) { s in
            _ = try await s.connection.store.upload([digest: .bytes(data)])
            #expect(try await readAll(s, readRequest(digest.resource)) == data)
            #expect(try await readAll(s, readRequest(digest.resource, offset: 1_000_000, limit: 10)) == data.subdata(in: 1_000_000..<1_000_010))
            #expect(try await readAll(s, readRequest(digest.resource, offset: 2_999_990)) == data.suffix(10))
            // A malformed hash: ours says INVALID_ARGUMENT; casd only has to refuse it.
            let malformed = await statusCode { _ = try await readAll(s, readRequest("blobs/nothex/12")) }
            #expect(malformed != nil)
            if kind == .lazycasServe { #expect(malformed == .invalidArgument) }
            #expect(await statusCode { _ = try await readAll(s, readRequest("no-blobs-here")) } == .invalidArgument)
            #expect(await statusCode { _ = try await readAll(s, readRequest(Digest(data: Data("absent".utf8)).resource)) } == .notFound)
            #expect(await statusCode { _ = try await readAll(s, readRequest(digest.resource, offset: 3_000_001)) } == .outOfRange)
            // Still serving.
            #expect(try await s.connection.store.findMissing([digest]).isEmpty)
        }
        await server.stop()
    }

    @Test(arguments: ServerKind.allCases)
    func uploadsThatDoNotMatchTheirDigestAreRejectedAndNotStored(_ kind: ServerKind) async throws {
        let server = try await TestServer.start(kind)
        let right = Data("the right bytes".utf8)
        let digest = Digest(data: right)
        try await Stubs.with(server) { s in
            let response = try await s.cas.batchUpdateBlobs(batchUpdate([Data("the wrong bytes".utf8)], claiming: digest))
            #expect(response.responses.first?.status.code == Int32(RPCError.Code.invalidArgument.rawValue))
            // A ByteStream upload with the wrong content, and one that ends short.
            let resource = "uploads/\(UUID().uuidString)/\(digest.resource)"
            #expect(await statusCode { _ = try await write(s, [writeMessage(resource, offset: 0, data: Data("the wrong bytes".utf8), finish: true)]) } != nil)
            let short = "uploads/\(UUID().uuidString)/\(digest.resource)"
            #expect(await statusCode { _ = try await write(s, [writeMessage(short, offset: 0, data: right.prefix(5), finish: true)]) } != nil)
            #expect(await statusCode { _ = try await write(s, [writeMessage("uploads/x/blobs/zz/1", offset: 0, data: Data("z".utf8), finish: true)]) } == .invalidArgument)
            var missing = Build_Bazel_Remote_Execution_V2_FindMissingBlobsRequest()
            missing.blobDigests = [digest.proto]
            #expect(try await s.cas.findMissingBlobs(missing).missingBlobDigests.count == 1, "nothing wrong was stored")
            var malformed = Build_Bazel_Remote_Execution_V2_Digest()
            malformed.hash = "xyz"
            malformed.sizeBytes = 3
            missing.blobDigests = [malformed]
            // Ours rejects a malformed digest; casd may instead report it missing. Neither has it.
            if kind == .lazycasServe {
                #expect(await statusCode { _ = try await s.cas.findMissingBlobs(missing) } == .invalidArgument)
            } else {
                #expect(try await s.cas.findMissingBlobs(missing).missingBlobDigests.count == 1)
            }
            // The right bytes are accepted afterwards.
            let ok = try await write(s, [writeMessage("uploads/\(UUID().uuidString)/\(digest.resource)", offset: 0, data: right, finish: true)])
            #expect(ok.committedSize == digest.sizeBytes)
            #expect(try await readAll(s, readRequest(digest.resource)) == right)
        }
        await server.stop()
    }

    @Test(arguments: ServerKind.allCases)
    func getTreePagesThroughAWideTree(_ kind: ServerKind) async throws {
        let server = try await TestServer.start(kind)
        let dir = TemporaryDirectory()
        var fixture = TreeFixture(root: dir.sub("src"))
        for i in 0..<120 { fixture.write("d\(i)/e/f", Data("\(i)".utf8)) }
        let store = try LocalContentStore(root: dir.sub("cache"))
        let tree = try TreeImporter(store: store, storeFiles: true).importDirectory(at: fixture.root)
        try await Stubs.with(server) { s in
            var blobs: [Digest: Blob] = tree.directories.mapValues { .bytes($0) }
            for (d, p) in tree.files { blobs[d] = .path(p) }
            _ = try await s.connection.store.upload(blobs)
            var request = Build_Bazel_Remote_Execution_V2_GetTreeRequest()
            request.rootDigest = tree.root.proto
            request.pageSize = 50
            var seen: [Data] = []
            var pages = 0
            repeat {
                let messages = try await s.cas.getTree(request) { response in
                    var all: [Build_Bazel_Remote_Execution_V2_GetTreeResponse] = []
                    for try await m in response.messages { all.append(m) }
                    return all
                }
                for m in messages { seen += try m.directories.map { try $0.serializedData() } }
                guard let page = messages.last else { break }
                pages += messages.count
                request.pageToken = page.nextPageToken
            } while !request.pageToken.isEmpty && pages < 100
            #expect(Set(seen.map { Digest(data: $0) }) == Set(tree.directories.keys))
            #expect(pages > 1 || kind == .buildboxCASD, "our server pages at page_size")
        }
        await server.stop()
    }
}

/// What only our server promises beyond the CAS: batch limits, resumable uploads, the
/// ActionCache, counters.
@Suite(.serialized)
struct EmbeddedServerTests {
    /// BuildStream checks an artifact server by sending FetchBlob and PushBlob with no URIs and
    /// expecting INVALID_ARGUMENT; any other answer and it drops the server.
    @Test func remoteAssetCallsWithoutURIsAreInvalidArgumentAsBuildStreamProbesThem() async throws {
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        try await Stubs.with(server) { s in
            #expect(await statusCode { _ = try await s.assetFetch.fetchBlob(Build_Bazel_Remote_Asset_V1_FetchBlobRequest()) } == .invalidArgument)
            #expect(await statusCode { _ = try await s.assetPush.pushBlob(Build_Bazel_Remote_Asset_V1_PushBlobRequest()) } == .invalidArgument)
            var unknown = Build_Bazel_Remote_Asset_V1_FetchBlobRequest()
            unknown.uris = ["urn:fdc:buildstream.build:2020:artifact:p/e/k"]
            #expect(await statusCode { _ = try await s.assetFetch.fetchBlob(unknown) } == .notFound)
        }
    }

    @Test func oversizedBatchesAreInvalidArgumentAndTheServerStaysUp() async throws {
        let server = try await TestServer.start(.lazycasServe)
        try await Stubs.with(server) { s in
            let batch = batchUpdate((0..<5).map { Data(repeating: UInt8($0), count: 1_000_000) })
            // Over max_batch_total_size_bytes: INVALID_ARGUMENT, as REAPI specifies for batches.
            #expect(await statusCode { _ = try await s.cas.batchUpdateBlobs(batch) } == .invalidArgument)
            // Over the largest message the server accepts at all (8 MiB): refused by gRPC before
            // it reaches the service.
            let huge = batchUpdate((0..<10).map { Data(repeating: UInt8($0), count: 1_000_000) })
            #expect(await statusCode { _ = try await s.cas.batchUpdateBlobs(huge) } != nil)
            var read = Build_Bazel_Remote_Execution_V2_BatchReadBlobsRequest()
            read.digests = batch.requests.map(\.digest)
            #expect(await statusCode { _ = try await s.cas.batchReadBlobs(read) } == .invalidArgument)
            let caps = try await s.connection.cas.capabilities()
            #expect(caps.cacheCapabilities.maxBatchTotalSizeBytes == 4 << 20)
            #expect(caps.executionCapabilities.execEnabled)
        }
        let stats = server.embedded!.stats.snapshot
        #expect(stats["BatchUpdateBlobs"]?.errors == 2)
        #expect(stats["GetCapabilities"]?.requests == 1)
        await server.stop()
    }

    @Test func aBrokenUploadResumesFromWhatArrived() async throws {
        let server = try await TestServer.start(.lazycasServe)
        let data = Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let digest = Digest(data: data)
        let resource = "uploads/\(UUID().uuidString)/\(digest.resource)"
        try await Stubs.with(server) { s in
            // The first stream ends without finish_write: 120,000 bytes committed.
            let partial = try await write(s, [writeMessage(resource, offset: 0, data: data.prefix(120_000), finish: false)])
            #expect(partial.committedSize == 120_000)
            var query = Google_Bytestream_QueryWriteStatusRequest()
            query.resourceName = resource
            let status = try await s.byteStream.queryWriteStatus(query)
            #expect(status.committedSize == 120_000 && !status.complete)
            #expect(try await s.connection.store.findMissing([digest]) == [digest], "a partial blob is not visible")
            // A wrong offset is refused; the right one completes the blob.
            let rest = try await write(s, [writeMessage(resource, offset: 120_000, data: data.suffix(from: 120_000), finish: true)])
            #expect(rest.committedSize == digest.sizeBytes)
            #expect(try await s.byteStream.queryWriteStatus(query).complete)
            #expect(try await readAll(s, readRequest(digest.resource)) == data)
        }
        await server.stop()
    }

    @Test func theActionCacheOnlyReturnsResultsWhoseBlobsExist() async throws {
        let server = try await TestServer.start(.lazycasServe)
        try await Stubs.with(server) { s in
            let output = Data("output".utf8)
            let present = Digest(data: output)
            _ = try await s.connection.store.upload([present: .bytes(output)])
            func result(pointingAt digest: Digest) -> Build_Bazel_Remote_Execution_V2_ActionResult {
                var r = Build_Bazel_Remote_Execution_V2_ActionResult()
                var f = Build_Bazel_Remote_Execution_V2_OutputFile()
                f.path = "out"
                f.digest = digest.proto
                r.outputFiles = [f]
                r.exitCode = 0
                return r
            }
            let (good, bad) = (Digest(data: Data("action 1".utf8)), Digest(data: Data("action 2".utf8)))
            for (action, blob) in [(good, present), (bad, Digest(data: Data("never uploaded".utf8)))] {
                var update = Build_Bazel_Remote_Execution_V2_UpdateActionResultRequest()
                update.actionDigest = action.proto
                update.actionResult = result(pointingAt: blob)
                _ = try await s.actionCache.updateActionResult(update)
            }
            var get = Build_Bazel_Remote_Execution_V2_GetActionResultRequest()
            get.actionDigest = good.proto
            #expect(try await s.actionCache.getActionResult(get).outputFiles.first?.digest == present.proto)
            get.actionDigest = bad.proto
            #expect(await statusCode { _ = try await s.actionCache.getActionResult(get) } == .notFound)
            get.actionDigest = Digest(data: Data("unknown".utf8)).proto
            #expect(await statusCode { _ = try await s.actionCache.getActionResult(get) } == .notFound)
        }
        await server.stop()
    }

    @Test func theQuotaEvictsTheLeastRecentlyUsedBlobButNeverAFreshResults() async throws {
        let server = try await TestServer.start(.lazycasServe, maxBytes: 1_000_000)
        let blobs = (0..<4).map { i in Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &+ i * 7) }) }
        let (a, b, c, d) = (Digest(data: blobs[0]), Digest(data: blobs[1]), Digest(data: blobs[2]), Digest(data: blobs[3]))
        try await Stubs.with(server) { s in
            func put(_ i: Int) async throws {
                _ = try await s.cas.batchUpdateBlobs(batchUpdate([blobs[i]]))
                try await Task.sleep(for: .milliseconds(20))
            }
            // Stored a, c, b: then a is used again and c is named by a fresh result, which leaves
            // b as the one to evict (without the touch it would be a, without the protection c).
            for i in [0, 2, 1] { try await put(i) }
            #expect(try await s.connection.store.findMissing([a]).isEmpty)
            var update = Build_Bazel_Remote_Execution_V2_UpdateActionResultRequest()
            update.actionDigest = Digest(data: Data("action".utf8)).proto
            var file = Build_Bazel_Remote_Execution_V2_OutputFile()
            file.path = "out"
            file.digest = c.proto
            update.actionResult.outputFiles = [file]
            _ = try await s.actionCache.updateActionResult(update)
            try await put(3)
            #expect(try await s.connection.store.findMissing([a, b, c, d]) == [b])
        }
        let usage = try #require(server.embedded?.storage.quota?.usage)
        #expect(usage <= 1_000_000)
        await server.stop()
    }
}
