import Foundation
import GRPCCore
import LocalCAS
import REAPI
import Synchronization

/// ContentAddressableStorage: FindMissingBlobs, Batch{Update,Read}Blobs and GetTree over the
/// server's store. Every blob is verified against its digest before it is stored.
struct CASService: Build_Bazel_Remote_Execution_V2_ContentAddressableStorage.SimpleServiceProtocol {
    let storage: ServerStorage
    let limits: ServerLimits
    let stats: ServerStats
    let trees = TreeWalkCache()

    func findMissingBlobs(request: Build_Bazel_Remote_Execution_V2_FindMissingBlobsRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Execution_V2_FindMissingBlobsResponse {
        var digests: [Digest] = []
        for (i, proto) in request.blobDigests.enumerated() {
            digests.append(try Digest.fromRequest(proto, field: "blob_digests[\(i)]"))
        }
        let missing: Set<Digest>
        do { missing = try await storage.content.findMissing(digests) } catch { throw RPCError(cas: error) }
        var response = Build_Bazel_Remote_Execution_V2_FindMissingBlobsResponse()
        response.missingBlobDigests = zip(digests, request.blobDigests).filter { missing.contains($0.0) }.map(\.1)
        // A client that finds a blob present will rely on it: it counts as a use.
        storage.used(digests.filter { !missing.contains($0) })
        return response
    }

    func batchUpdateBlobs(request: Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsResponse {
        let total = request.requests.reduce(Int64(0)) { $0 + Int64($1.data.count) }
        guard total <= limits.maxBatchBytes else {
            throw RPCError(code: .invalidArgument, message: "batch of \(total) bytes exceeds max_batch_total_size_bytes \(limits.maxBatchBytes)")
        }
        var response = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsResponse()
        for (i, blob) in request.requests.enumerated() {
            var entry = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsResponse.Response()
            entry.digest = blob.digest
            entry.status = await Self.status { () async throws(RPCError) in
                guard blob.compressor == .identity else {
                    throw RPCError(code: .invalidArgument, message: "requests[\(i)]: compressed blobs are not supported")
                }
                let digest = try Digest.fromRequest(blob.digest, field: "requests[\(i)].digest")
                do throws(CASError) {
                    try await storage.content.put([digest: .bytes(blob.data)])
                } catch {
                    throw RPCError(cas: error)
                }
            }
            response.responses.append(entry)
        }
        stats.record("BatchUpdateBlobs") { $0.bytesIn += total }
        storage.stored(total)
        return response
    }

    func batchReadBlobs(request: Build_Bazel_Remote_Execution_V2_BatchReadBlobsRequest, context: ServerContext) async throws -> Build_Bazel_Remote_Execution_V2_BatchReadBlobsResponse {
        var digests: [Digest] = []
        var total: Int64 = 0
        for (i, proto) in request.digests.enumerated() {
            let digest = try Digest.fromRequest(proto, field: "digests[\(i)]")
            digests.append(digest)
            // Sizes come from the client: add only while below the limit, so no sum overflows.
            if total <= limits.maxBatchBytes { total += min(digest.sizeBytes, limits.maxBatchBytes + 1) }
        }
        guard total <= limits.maxBatchBytes else {
            throw RPCError(code: .invalidArgument, message: "blobs of \(total) bytes requested, over max_batch_total_size_bytes \(limits.maxBatchBytes): use ByteStream for large blobs")
        }
        let found = Mutex<[Digest: Result<Data, CASError>]>([:])
        await storage.content.get(digests) { digest, result in
            var read: Result<Data, CASError>
            switch result {
            case .success(let blob):
                do throws(CASError) { read = .success(try await blob.data(size: digest.sizeBytes)) } catch { read = .failure(error) }
            case .failure(let error):
                read = .failure(error)
            }
            found.withLock { $0[digest] = read }
        }
        let results = found.withLock { $0 }
        var response = Build_Bazel_Remote_Execution_V2_BatchReadBlobsResponse()
        var sent: Int64 = 0
        for (digest, proto) in zip(digests, request.digests) {
            var entry = Build_Bazel_Remote_Execution_V2_BatchReadBlobsResponse.Response()
            entry.digest = proto
            var data = Data()
            entry.status = await Self.status { () throws(RPCError) in
                do throws(CASError) {
                    data = try (results[digest] ?? .failure(CASError(.notFound, "blob \(digest) is not in the CAS"))).get()
                } catch {
                    throw RPCError(cas: error)
                }
            }
            entry.data = data
            sent += Int64(data.count)
            response.responses.append(entry)
        }
        stats.record("BatchReadBlobs") { $0.bytesOut += sent }
        storage.used(digests)
        return response
    }

    func getTree(request: Build_Bazel_Remote_Execution_V2_GetTreeRequest, response: RPCWriter<Build_Bazel_Remote_Execution_V2_GetTreeResponse>, context: ServerContext) async throws {
        let root = try Digest.fromRequest(request.rootDigest, field: "root_digest")
        guard storage.cas.contains(root) else {
            throw RPCError(code: .notFound, message: "root Directory \(root) is not in the CAS")
        }
        var start = 0
        if !request.pageToken.isEmpty {
            guard let offset = Int(request.pageToken), offset >= 0 else {
                throw RPCError(code: .invalidArgument, message: "page_token '\(request.pageToken)' was not issued by this server")
            }
            start = offset
        }
        let pageSize = request.pageSize > 0 ? min(Int(request.pageSize), limits.treePageSize) : limits.treePageSize
        let order = trees.breadthFirst(from: root, in: storage.cas)
        guard start <= order.count else {
            throw RPCError(code: .invalidArgument, message: "page_token '\(request.pageToken)' is past the end of the tree")
        }
        // REAPI: the stream carries the page at the token and every page after it. Pages are
        // bounded by count and by bytes, so one message stays under the gRPC limit.
        var index = start
        repeat {
            var page = Build_Bazel_Remote_Execution_V2_GetTreeResponse()
            var bytes = 0
            while index < order.count, page.directories.count < pageSize {
                let (digest, directory) = order[index]
                if !page.directories.isEmpty && bytes + Int(digest.sizeBytes) > limits.maxBatchBytes { break }
                page.directories.append(directory)
                bytes += Int(digest.sizeBytes)
                index += 1
            }
            if index < order.count { page.nextPageToken = String(index) }
            stats.record("GetTree") { $0.bytesOut += Int64(bytes) }
            try await response.write(page)
        } while index < order.count
    }

    /// Runs `body` and turns its outcome into a per-blob `google.rpc.Status`.
    static func status(_ body: () async throws(RPCError) -> Void) async -> Google_Rpc_Status {
        do {
            try await body()
            return Google_Rpc_Status()
        } catch {
            var status = Google_Rpc_Status()
            status.code = Int32(error.code.rawValue)
            status.message = error.message
            return status
        }
    }
}

/// The Directory nodes of a tree in breadth-first order, each once. Complete walks are
/// remembered for the last few roots, so that paging through a large tree does not walk it
/// again for every page (a tree with missing parts is walked again: they may arrive).
final class TreeWalkCache: Sendable {
    typealias Walk = [(Digest, Build_Bazel_Remote_Execution_V2_Directory)]
    private let recent = Mutex<[(root: Digest, walk: Walk)]>([])

    func breadthFirst(from root: Digest, in store: LocalContentStore) -> Walk {
        if let hit = recent.withLock({ $0.first { $0.root == root }?.walk }) { return hit }
        var walk: Walk = []
        var complete = true
        // A part of the tree that is missing (or unreadable) is left out, as REAPI allows.
        let tree = LocalTree(store: store)
        try? TreeWalk(root: root, nodes: { digest in try? tree.directory(digest) })
            .forEachNode(order: .breadthFirst, { digest, directory in walk.append((digest, directory.message)) },
                         absent: { _ in complete = false })
        guard complete else { return walk }
        recent.withLock { r in
            r.insert((root, walk), at: 0)
            if r.count > 4 { r.removeLast() }
        }
        return walk
    }
}
