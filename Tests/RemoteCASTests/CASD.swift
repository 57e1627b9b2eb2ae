import Foundation
import LocalCAS
import RemoteCAS
import TestSupport

/// A running server, a tree uploaded to it, and helpers to open fresh local caches.
struct UploadedTree {
    let server: TestServer
    let dir: TemporaryDirectory
    let source: String
    let tree: ImportedTree

    /// Uploads a tree of `files` small files plus `largeFiles` to a fresh server.
    static func make(on kind: ServerKind, files: Int, largeFiles: [Int] = []) async throws -> UploadedTree {
        let server = try await TestServer.start(kind)
        let dir = TemporaryDirectory()
        var fixture = TreeFixture(root: dir.sub("src"))
        fixture.populate(files: files, sizes: 1024...65536, largeFiles: largeFiles)
        let store = try LocalContentStore(root: dir.sub("upload-cache"))
        let tree = try TreeImporter(store: store, storeFiles: false).importDirectory(at: fixture.root)
        try await RemoteConnection.with(server.configuration) { connection in
            _ = try await connection.store.upload(tree.blobSources)
        }
        return UploadedTree(server: server, dir: dir, source: fixture.root, tree: tree)
    }

    /// A new, empty local store.
    func freshStore(_ name: String) throws -> LocalContentStore {
        try LocalContentStore(root: dir.sub(name))
    }
}

extension BuildboxCASD {
    var configuration: RemoteConfiguration {
        RemoteConfiguration(endpoint: try! RemoteEndpoint(parsing: url))
    }
}

extension TestServer {
    var configuration: RemoteConfiguration {
        RemoteConfiguration(endpoint: try! RemoteEndpoint(parsing: url))
    }
}

extension ImportedTree {
    /// Every blob of the tree with where its bytes come from.
    var blobSources: [Digest: Blob] {
        var blobs: [Digest: Blob] = directories.mapValues { .bytes($0) }
        for (digest, path) in files { blobs[digest] = .path(path) }
        return blobs
    }
}

/// How many blobs a store holds.
func objectCount(_ store: LocalContentStore) -> Int {
    store.allDigests().count
}
