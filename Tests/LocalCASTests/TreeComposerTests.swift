import Foundation
import LocalCAS
import TestSupport
import Testing

/// Composing trees by reference: BuildStream's overlay rule, without reading file content.
@Suite struct TreeComposerTests {
    let dir = TemporaryDirectory()

    func tree(_ name: String, _ build: (inout TreeFixture) -> Void) throws -> (Digest, LocalContentStore) {
        var fixture = TreeFixture(root: dir.sub(name))
        build(&fixture)
        let store = try LocalContentStore(root: dir.sub("cache"))
        return (try TreeImporter(store: store, storeFiles: false).importDirectory(at: fixture.root).root, store)
    }

    @Test func laterLayersWinAndDirectoriesMerge() throws {
        let (a, store) = try tree("a") { t in
            t.write("usr/bin/tool", Data("old".utf8))
            t.write("usr/lib/liba", Data("a".utf8))
            t.write("etc/keep", Data("k".utf8))
        }
        let (b, _) = try tree("b") { t in
            t.write("usr/bin/tool", Data("new".utf8), executable: true)
            t.write("usr/share/doc", Data("d".utf8))
        }
        let composer = TreeComposer(store: store)
        let merged = try composer.overlay([.init(root: a, label: "a.bst"), .init(root: b, label: "b.bst")])
        let local = LocalTree(store: store)
        guard case .file(let tool) = try local.resolve(merged, path: "usr/bin/tool") else { Issue.record("no tool"); return }
        #expect(tool.digest == Digest(data: Data("new".utf8)))
        #expect(tool.isExecutable)
        for path in ["usr/lib/liba", "usr/share/doc", "etc/keep"] {
            guard case .file = try local.resolve(merged, path: path) else { Issue.record("\(path) missing"); continue }
        }
        // A subtree only one layer has is shared by reference, not rewritten.
        guard case .directory(let etcA) = try local.resolve(a, path: "etc"),
              case .directory(let etcMerged) = try local.resolve(merged, path: "etc") else { Issue.record("no etc"); return }
        #expect(etcA == etcMerged)
        // The same overlay in the other order gives the other tool.
        let reversed = try composer.overlay([.init(root: b, label: "b.bst"), .init(root: a, label: "a.bst")])
        guard case .file(let old) = try local.resolve(reversed, path: "usr/bin/tool") else { Issue.record("no tool"); return }
        #expect(old.digest == Digest(data: Data("old".utf8)))
    }

    @Test func aFileMeetingADirectoryIsAnErrorNamingBothLayers() throws {
        let (a, store) = try tree("a") { t in t.write("usr/bin/x", Data("x".utf8)) }
        let (b, _) = try tree("b") { t in t.write("usr/bin", Data("file".utf8)) }
        #expect {
            try TreeComposer(store: store).overlay([.init(root: a, label: "base.bst"), .init(root: b, label: "hello.bst")])
        } throws: { error in
            "\(error)" == "'usr/bin' is a directory in base.bst but a file or symlink in hello.bst"
        }
    }

    @Test func aFileBlobNeedNotBeLocalToCompose() throws {
        // storeFiles: false, so no file blob is in the store; composing still works.
        let (a, store) = try tree("a") { t in t.write("x/one", Data("1".utf8)) }
        let (b, _) = try tree("b") { t in t.write("x/two", Data("2".utf8)) }
        #expect(!store.contains(Digest(data: Data("1".utf8))))
        let merged = try TreeComposer(store: store).overlay([.init(root: a, label: "a"), .init(root: b, label: "b")])
        var names: [String] = []
        try LocalTree(store: store).forEachFile(under: merged) { path, _ in names.append(path) }
        #expect(names.sorted() == ["x/one", "x/two"])
    }

    @Test func placeAndSubtreeAreInverse() throws {
        let (a, store) = try tree("a") { t in t.write("f", Data("f".utf8)) }
        let composer = TreeComposer(store: store)
        let placed = try composer.place(a, at: "/buildstream/p/e/")
        #expect(try composer.subtree(placed, at: "buildstream/p/e") == a)
        #expect(try composer.place(a, at: "/") == a)
        #expect(throws: CASError.self) { try composer.place(a, at: "a/../b") }
    }
}
