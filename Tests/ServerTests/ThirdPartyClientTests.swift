import Foundation
import Glibc
import LocalCAS
import RemoteCAS
import TestSupport
import Testing

/// Real third-party REAPI clients against `lazycas serve`: the server speaks the protocol,
/// not a dialect our own client happens to accept.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled), .serialized)
struct ThirdPartyClientTests {
    @Test(.enabled(if: TestEnvironment.fuseTestsEnabled))
    func buildboxFuseMountsATreeFromOurServer() async throws {
        let server = try await TestServer.start(.lazycasServe)
        let dir = TemporaryDirectory()
        var fixture = TreeFixture(root: dir.sub("src"))
        let paths = fixture.populate(files: 200, largeFiles: [6_000_000])
        fixture.symlink("link", to: paths[0])
        let store = try LocalContentStore(root: dir.sub("cache"))
        let tree = try TreeImporter(store: store, storeFiles: false).importDirectory(at: fixture.root)
        try await Stubs.with(server) { s in
            var blobs: [Digest: Blob] = tree.directories.mapValues { .bytes($0) }
            for (d, p) in tree.files { blobs[d] = .path(p) }
            _ = try await s.connection.store.upload(blobs)
        }
        let mount = try await BuildboxFuse(remotePort: server.port, root: tree.root.description,
                                           mountpoint: dir.sub("mnt"), cache: dir.sub("bbfuse-cache"))
        defer { mount.stop() }
        let source = fixture.root
        // Reads of the mount wait for our server, which runs in this process: off the pool.
        let (differing, count) = try await offPool {
            let files = try FileManager.default.subpathsOfDirectory(atPath: source).filter { rel in
                var st = stat()
                return lstat(source + "/" + rel, &st) == 0 && st.st_mode & S_IFMT == S_IFREG
            }
            let differing = files.filter {
                FileManager.default.contents(atPath: mount.mountpoint + "/" + $0) != FileManager.default.contents(atPath: source + "/" + $0)
            }
            return (differing, files.count)
        }
        #expect(count == 201)
        #expect(differing.isEmpty, "buildbox-fuse read different bytes for \(differing.prefix(3))")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: mount.mountpoint + "/link")) == paths[0])
        #expect((server.embedded!.stats.snapshot["Read"]?.requests ?? 0) > 0, "buildbox-fuse read through ByteStream")
        await server.stop()
    }

    @Test func buildboxCasdInProxyModeUploadsAndDownloadsThroughOurServer() async throws {
        let server = try await TestServer.start(.lazycasServe)
        let dir = TemporaryDirectory()
        var fixture = TreeFixture(root: dir.sub("src"))
        fixture.populate(files: 100, largeFiles: [5_000_000])
        let store = try LocalContentStore(root: dir.sub("cache"))
        let tree = try TreeImporter(store: store, storeFiles: false).importDirectory(at: fixture.root)
        var blobs: [Digest: Blob] = tree.directories.mapValues { .bytes($0) }
        for (d, p) in tree.files { blobs[d] = .path(p) }
        // Upload through a casd proxy: the blobs must land in our server.
        let proxy = try await BuildboxCASD(extraArguments: ["--cas-remote=http://127.0.0.1:\(server.port)"])
        try await RemoteConnection.with(RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: proxy.url))) { c in
            _ = try await c.store.upload(blobs)
        }
        let ours = server.embedded!.storage.cas
        #expect(ours.missing(Array(blobs.keys)).isEmpty, "every blob reached our server")
        proxy.stop()
        // Download through a fresh proxy (empty cache): the bytes come from our server.
        let fresh = try await BuildboxCASD(extraArguments: ["--cas-remote=http://127.0.0.1:\(server.port)"])
        let download = try LocalContentStore(root: dir.sub("download"))
        try await RemoteConnection.with(RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: fresh.url))) { c in
            _ = try await TreeFetcher(store: download, connection: c).fetchTree(tree.root)
            try await ReadCachingContentStore(fast: download, slow: c.store).fetchAll(Array(tree.files.keys))
        }
        for (digest, path) in tree.files {
            #expect(try download.read(digest) == FileManager.default.contents(atPath: path))
        }
        #expect((server.embedded!.stats.snapshot["BatchReadBlobs"]?.requests ?? 0) + (server.embedded!.stats.snapshot["Read"]?.requests ?? 0) > 0)
        fresh.stop()
        await server.stop()
    }
}
