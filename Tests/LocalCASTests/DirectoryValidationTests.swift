import Foundation
import LocalCAS
import REAPI
import Testing

@Suite struct DirectoryValidationTests {
    typealias Directory = Build_Bazel_Remote_Execution_V2_Directory

    static func file(_ name: String) -> Build_Bazel_Remote_Execution_V2_FileNode {
        var f = Build_Bazel_Remote_Execution_V2_FileNode()
        f.name = name
        f.digest = Digest(data: Data(name.utf8)).proto
        return f
    }

    static func dir(_ name: String) -> Build_Bazel_Remote_Execution_V2_DirectoryNode {
        var d = Build_Bazel_Remote_Execution_V2_DirectoryNode()
        d.name = name
        d.digest = Digest.empty.proto
        return d
    }

    static func link(_ name: String, _ target: String) -> Build_Bazel_Remote_Execution_V2_SymlinkNode {
        var s = Build_Bazel_Remote_Execution_V2_SymlinkNode()
        s.name = name
        s.target = target
        return s
    }

    @Test func acceptsAWellFormedDirectory() throws {
        var d = Directory()
        d.files = [Self.file("a"), Self.file("b")]
        d.directories = [Self.dir("c")]
        d.symlinks = [Self.link("d", "../x")]
        let v = try ValidatedDirectory(d)
        #expect(v.files.map(\.name.name) == ["a", "b"])
        #expect(v.directories.map(\.name.name) == ["c"])
        #expect(v.symlinks.first?.target == "../x")
    }

    static let badCases: [(String, Directory)] = {
        var cases: [(String, Directory)] = []
        func add(_ label: String, _ build: (inout Directory) -> Void) {
            var d = Directory()
            build(&d)
            cases.append((label, d))
        }
        add("empty") { $0.files = [file("")] }
        add("'.' and '..'") { $0.directories = [dir(".")] }
        add("'.' and '..'") { $0.directories = [dir("..")] }
        add("contains '/'") { $0.files = [file("a/b")] }
        add("contains '/'") { $0.symlinks = [link("/etc", "x")] }
        add("contains NUL") { $0.files = [file("a\u{0}b")] }
        add("not sorted") { $0.files = [file("b"), file("a")] }
        add("not sorted") { $0.directories = [dir("z"), dir("y")] }
        add("not sorted or not unique") { $0.files = [file("a"), file("a")] }
        add("more than once") { $0.files = [file("a")]; $0.directories = [dir("a")] }
        add("more than once") { $0.directories = [dir("a")]; $0.symlinks = [link("a", "t")] }
        add("empty or NUL-containing target") { $0.symlinks = [link("a", "")] }
        add("64 hex") { var f = file("a"); f.digest.hash = "zz"; $0.files = [f] }
        add("negative") { var f = file("a"); f.digest.sizeBytes = -1; $0.files = [f] }
        return cases
    }()

    @Test(arguments: badCases)
    func rejects(reason: String, directory: Directory) {
        do {
            _ = try ValidatedDirectory(directory)
            Issue.record("accepted a Directory with a problem: \(reason)")
        } catch {
            #expect(error.code == .corrupt)
            #expect(error.description.contains(reason), "message was: \(error.description)")
        }
    }

    @Test func rejectsBytesThatDoNotParse() {
        #expect(throws: CASError.self) { try ValidatedDirectory(serialized: Data([0xff, 0xff, 0xff])) }
    }
}
