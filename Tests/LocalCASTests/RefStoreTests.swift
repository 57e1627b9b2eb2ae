import Foundation
import LocalCAS
import TestSupport
import Testing

@Suite struct RefStoreTests {
    let dir = TemporaryDirectory()

    @Test func setGetListDelete() throws {
        let refs = try RefStore(root: dir.path)
        let a = Digest(data: Data("a".utf8)), b = Digest(data: Data("b".utf8))
        try refs.set("project/hello/abc123", to: a)
        try refs.set("top", to: b)
        #expect(try refs.get("project/hello/abc123") == a)
        try refs.set("top", to: a)
        #expect(try refs.get("top") == a)
        #expect(refs.list().map(\.name) == ["project/hello/abc123", "top"])
        try refs.delete("top")
        #expect(throws: CASError.self) { try refs.get("top") }
    }

    @Test(arguments: ["", "..", "../escape", "a/../../b", "/abs", "a//b", "a/", "./a", "sp ace", "semi;colon", "nul\u{0}"])
    func rejectsNamesThatCouldEscapeOrAreMalformed(name: String) throws {
        let refs = try RefStore(root: dir.path)
        do {
            try refs.set(name, to: .empty)
            Issue.record("accepted ref name '\(name)'")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.description.contains("invalid ref name"))
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/escape"))
    }

    @Test func unknownRefIsNotFound() throws {
        let refs = try RefStore(root: dir.path)
        #expect { try refs.get("nope") } throws: { ($0 as? CASError)?.code == .notFound }
    }
}
