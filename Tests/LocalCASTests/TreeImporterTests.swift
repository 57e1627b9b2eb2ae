import Foundation
import GRPCCore
import LocalCAS
import REAPI
import RemoteCAS
import TestSupport
import Testing

@Suite struct TreeImporterTests {
    let dir = TemporaryDirectory()

    /// A tree with every kind of entry REAPI knows, and names whose byte order differs from a
    /// locale's (upper case before lower, non-ASCII last).
    func makeTree() -> String {
        var t = TreeFixture(root: dir.sub("src"))
        t.file("b.txt", size: 10)
        t.file("B.txt", size: 11)
        t.file("a/x.bin", size: 70_000)
        t.file("a/run.sh", size: 100, executable: true)
        t.file("ä-umlaut", size: 3)
        t.file("dup1", size: 0)
        t.file("a/dup2", size: 0)
        t.symlink("a/link-rel", to: "../b.txt")
        t.symlink("link-abs", to: "/etc/passwd")
        t.symlink("dangling", to: "does/not/exist")
        t.directory("empty")
        t.directory("a/deeper/still/empty")
        return t.root
    }

    @Test func importsEveryKindOfEntrySorted() throws {
        let store = try LocalContentStore(root: dir.sub("cache"))
        let tree = try TreeImporter(store: store, storeFiles: false).importDirectory(at: makeTree())
        let local = LocalTree(store: store)
        let root = try local.directory(tree.root)
        #expect(root.files.map(\.name.name) == ["B.txt", "b.txt", "dup1", "ä-umlaut"])
        #expect(root.directories.map(\.name.name) == ["a", "empty"])
        #expect(root.symlinks.map(\.name.name) == ["dangling", "link-abs"])
        guard case .file(let run) = try local.resolve(tree.root, path: "a/run.sh") else {
            Issue.record("a/run.sh is not a file"); return
        }
        #expect(run.isExecutable)
        guard case .symlink(let link) = try local.resolve(tree.root, path: "a/link-rel") else {
            Issue.record("a/link-rel is not a symlink"); return
        }
        #expect(link.target == "../b.txt")
        guard case .directory(let empty) = try local.resolve(tree.root, path: "a/deeper/still/empty") else {
            Issue.record("empty dir missing"); return
        }
        #expect(empty == Digest.empty, "an empty Directory message serializes to the empty blob")
        // Directory nodes are in the store; file content is not (storeFiles: false).
        #expect(try local.missingDirectories(under: tree.root).isEmpty)
        #expect(!store.contains(run.digest))
        #expect(tree.fileCount == 7)
    }

    @Test func storeFilesCopiesContentIn() throws {
        let store = try LocalContentStore(root: dir.sub("cache"))
        let tree = try TreeImporter(store: store, storeFiles: true).importDirectory(at: makeTree())
        for digest in tree.files.keys { #expect(store.contains(digest)) }
    }

    @Test func refusesSpecialFiles() throws {
        let src = dir.sub("special")
        #expect(mkfifo(src + "/fifo", 0o644) == 0)
        let store = try LocalContentStore(root: dir.sub("cache"))
        #expect { try TreeImporter(store: store, storeFiles: false).importDirectory(at: src) } throws: {
            "\($0)".contains("fifo")
        }
    }

    /// buildbox-casd's CaptureTree is an independent implementation of the same mapping from a
    /// directory to Directory nodes: every node must come out byte-identical.
    @Test(.enabled(if: TestEnvironment.casdTestsEnabled))
    func matchesBuildboxCasdCaptureTree() async throws {
        let src = makeTree()
        let store = try LocalContentStore(root: dir.sub("cache"))
        let ours = try TreeImporter(store: store, storeFiles: false).importDirectory(at: src)

        let casd = try await BuildboxCASD()
        defer { casd.stop() }
        let config = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: casd.url))
        let (theirRoot, theirDirectories) = try await RemoteConnection.with(config) { connection in
            var request = Build_Buildgrid_CaptureTreeRequest()
            request.path = [src]
            let response = try await Build_Buildgrid_LocalContentAddressableStorage.Client(wrapping: connection.client)
                .captureTree(request)
            let captured = try #require(response.responses.first)
            #expect(captured.status.code == 0, "CaptureTree failed: \(captured.status.message)")
            let treeDigest = try Digest(captured.treeDigest)
            let treeBytes = try await connection.store.data(treeDigest)
            let tree = try Build_Bazel_Remote_Execution_V2_Tree(serializedBytes: treeBytes)
            let root = Digest(data: try tree.root.serializedBytes() as Data)
            let all = try ([tree.root] + tree.children).map { Digest(data: try $0.serializedBytes() as Data) }
            if captured.hasRootDirectoryDigest { #expect(try Digest(captured.rootDirectoryDigest) == root) }
            return (root, Set(all))
        }
        #expect(ours.root == theirRoot)
        #expect(Set(ours.directories.keys) == theirDirectories)
    }
}
