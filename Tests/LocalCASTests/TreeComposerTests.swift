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

    /// The `SubtreeReadOnly` value of the Directory `digest`, or nil when it has none.
    func readOnly(_ digest: Digest, _ store: LocalContentStore) throws -> String? {
        try store.directory(digest).message.nodeProperties.properties.first { $0.name == TreeComposer.subtreeReadOnly }?.value
    }

    @Test func markingReadOnlyLeavesTheContentAndOpensTheWritableDirectories() throws {
        let (a, store) = try tree("a") { t in
            t.write("usr/bin/tool", Data("tool".utf8), executable: true)
            t.write("buildstream/p/e.bst/src", Data("src".utf8))
        }
        let composer = TreeComposer(store: store)
        let local = LocalTree(store: store)
        guard let marked = try composer.markedReadOnly(a, writable: ["/buildstream/p/e.bst", "/buildstream-install", "tmp"]) else {
            Issue.record("nothing marked"); return
        }
        #expect(marked != a)
        #expect(try readOnly(marked, store) == "true")
        // The writable directories exist (made when missing), each marked writable again.
        for path in ["buildstream/p/e.bst", "buildstream-install", "tmp"] {
            guard case .directory(let d) = try local.resolve(marked, path: path) else { Issue.record("\(path) missing"); continue }
            #expect(try readOnly(d, store) == "false", "\(path)")
        }
        // Directories in between inherit read-only; untouched subtrees are shared by reference.
        guard case .directory(let between) = try local.resolve(marked, path: "buildstream") else { Issue.record("no buildstream"); return }
        #expect(try readOnly(between, store) == nil)
        guard case .directory(let usr) = try local.resolve(marked, path: "usr"),
              case .directory(let usrBefore) = try local.resolve(a, path: "usr") else { Issue.record("no usr"); return }
        #expect(usr == usrBefore)
        guard case .file(let src) = try local.resolve(marked, path: "buildstream/p/e.bst/src") else { Issue.record("no src"); return }
        #expect(src.digest == Digest(data: Data("src".utf8)))
        // Marking again changes nothing: properties are replaced, not repeated.
        #expect(try composer.markedReadOnly(marked, writable: ["/buildstream/p/e.bst", "/buildstream-install", "tmp"]) == marked)
        // A tree made from a marked one (outputs captured from an input root) starts unmarked.
        #expect(try DirectoryBuilder(store.directory(marked)).nodeProperties == nil)
    }

    @Test func aWritablePathThroughAFileIsNotMarked() throws {
        let (a, store) = try tree("a") { t in t.write("tmp", Data("not a directory".utf8)) }
        #expect(try TreeComposer(store: store).markedReadOnly(a, writable: ["tmp"]) == nil)
    }
}
