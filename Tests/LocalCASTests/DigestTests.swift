import Foundation
import LocalCAS
import Testing

@Suite struct DigestTests {
    let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    @Test func parsesAndPrintsHashSlashSize() throws {
        let d = try Digest(parsing: "\(emptyHash)/0")
        #expect(d.hash == emptyHash)
        #expect(d.sizeBytes == 0)
        #expect(d.description == "\(emptyHash)/0")
        #expect(d == Digest.empty)
    }

    @Test func hashesContent() {
        let d = Digest(data: Data("hello\n".utf8))
        #expect(d.description == "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03/6")
    }

    @Test(arguments: [
        ("", "expected HASH/SIZE"),
        ("abc", "expected HASH/SIZE"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "expected HASH/SIZE"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/", "size '' is not"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/-1", "size '-1' is not"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/1x", "size '1x' is not"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/99999999999999999999", "is not a non-negative integer"),
        ("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855/0", "lowercase hex"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/0", "64 hex characters, got 63"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555/0", "64 hex characters, got 65"),
        ("g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/0", "lowercase hex"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/0/extra", "expected HASH/SIZE"),
        ("/0", "64 hex characters, got 0"),
        (" e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/0", "64 hex characters, got 65"),
    ])
    func rejectsMalformed(text: String, reason: String) {
        do {
            let d = try Digest(parsing: text)
            Issue.record("accepted '\(text)' as \(d)")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.description.contains(reason), "message was: \(error.description)")
            #expect(error.description.contains("'\(text)'"), "message should quote the input: \(error.description)")
        }
    }

    @Test func rejectsNegativeSizeFromProto() {
        var proto = Digest.empty.proto
        proto.sizeBytes = -5
        #expect(throws: CASError.self) { try Digest(proto) }
    }
}
