import Foundation
import LocalCAS
import REAPI
import TestSupport
import Testing

/// Writing trees out of the local CAS: as directories (safely) and as tar streams.
@Suite struct TreeCheckoutTests {
    let dir = TemporaryDirectory()

    /// A source tree with files, an executable, symlinks (one pointing outside), an empty
    /// directory and a path too long for plain ustar; all of it imported into a store.
    func source() throws -> (String, Digest, LocalContentStore) {
        var fixture = TreeFixture(root: dir.sub("src"))
        fixture.populate(files: 300, sizes: 1...5000)
        fixture.file("zero", size: 0)
        fixture.file("bin/tool", size: 3000, executable: true)
        fixture.symlink("bin/alias", to: "tool")
        fixture.symlink("escape", to: "/etc/passwd")
        fixture.directory("empty")
        fixture.file(String(repeating: "deep/", count: 30) + "leaf.txt", size: 10)
        let store = try LocalContentStore(root: dir.sub("cache"))
        let root = try TreeImporter(store: store, storeFiles: true).importDirectory(at: fixture.root).root
        return (fixture.root, root, store)
    }

    @Test func aCheckoutIsIdenticalToTheSourceWithModesAndSymlinks() throws {
        let (src, root, store) = try source()
        let out = dir.sub("out")
        let summary = try TreeCheckout(store: store).write(root, into: out)
        #expect(summary.files == 303)
        #expect(summary.symlinks == 2)
        #expect(try treeDifferences(src, out) == "")
        // The symlink is a symlink, not a copy of what it points at.
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out + "/escape") == "/etc/passwd")
        // No temporary file is left behind.
        let leftovers = (FileManager.default.enumerator(atPath: out)?.allObjects as? [String] ?? []).filter { $0.contains(".lazycas-tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test func hardLinksShareTheCASFileWhereAllowed() throws {
        let (_, root, store) = try source()
        let out = dir.sub("linked")
        let summary = try TreeCheckout(store: store, hardlink: true).write(root, into: out)
        #expect(summary.hardlinks > 0)
        var st = stat()
        #expect(stat(out + "/bin/tool", &st) == 0 && st.st_nlink == 1 && (st.st_mode & 0o111) != 0, "executables are copies")
    }

    @Test func aSymlinkAlreadyInTheTargetIsNeverFollowed() throws {
        let (_, root, store) = try source()
        let outside = dir.sub("outside")
        let out = dir.sub("target")
        // The tree has a directory 'bin'; the target has 'bin' as a symlink leading outside.
        #expect(symlink(outside, out + "/bin") == 0)
        #expect(throws: CASError.self) { try TreeCheckout(store: store).write(root, into: out) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty, "something was written through the symlink")
    }

    @Test func aHostileTreeWithASymlinkAndADirectoryOfTheSameNameWritesNothing() throws {
        let store = try LocalContentStore(root: dir.sub("cache"))
        let passwd = try store.put(Data("root::0:0::/:/bin/sh\n".utf8))
        var inner = Build_Bazel_Remote_Execution_V2_Directory()
        var file = Build_Bazel_Remote_Execution_V2_FileNode()
        file.name = "passwd"
        file.digest = passwd.proto
        inner.files = [file]
        let innerDigest = try store.put(try inner.serializedBytes())
        var outer = Build_Bazel_Remote_Execution_V2_Directory()
        var link = Build_Bazel_Remote_Execution_V2_SymlinkNode()
        link.name = "a"
        link.target = dir.sub("victim")
        var sub = Build_Bazel_Remote_Execution_V2_DirectoryNode()
        sub.name = "a"
        sub.digest = innerDigest.proto
        outer.symlinks = [link]
        outer.directories = [sub]
        let root = try store.put(try outer.serializedBytes())
        let out = dir.sub("hostile-out")
        #expect(throws: CASError.self) { try TreeCheckout(store: store).write(root, into: out) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path + "/victim").isEmpty)
    }

    @Test func aTarStreamIsTheTreeAndIsReproducible() throws {
        let (src, root, store) = try source()
        func tar(_ name: String) throws -> String {
            let path = dir.path + "/" + name
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            defer { close(fd) }
            try TarWriter(store: store).write(root, to: fd)
            return path
        }
        let first = try tar("a.tar"), second = try tar("b.tar")
        #expect(FileManager.default.contentsEqual(atPath: first, andPath: second))
        let out = dir.sub("untarred")
        let extract = try runTool(["tar", "-xf", first, "-C", out])
        #expect(extract.status == 0, "\(extract.output)")
        #expect(try treeDifferences(src, out) == "")
        let listing = try runTool(["tar", "-tvf", first]).output
        #expect(listing.contains("0/0"))
        #expect(listing.contains("1970-01-01"))
    }
}
