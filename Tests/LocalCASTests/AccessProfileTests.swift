import Foundation
import LocalCAS
import TestSupport
import Testing

@Suite struct AccessProfileTests {
    let dir = TemporaryDirectory()

    static func paths(_ count: Int) -> [String] {
        (0..<count).map { "usr/share/locale/d\($0 / 50)/LC_MESSAGES/file-\($0 % 50).mo" }
    }

    @Test func encodingRoundTripsAndFrontCodesSiblings() throws {
        let profile = AccessProfile().merged(with: Self.paths(10_000)).merged(with: Array(Self.paths(10_000).prefix(10)))
        let data = profile.encoded()
        let decoded = try AccessProfile(decoding: data)
        #expect(decoded == profile)
        #expect(decoded.entries[0].reads == 2 && decoded.entries[10].reads == 1 && decoded.entries[10].idle == 1)
        let plain = Self.paths(10_000).reduce(0) { $0 + $1.utf8.count + 1 }
        #expect(data.count * 3 < plain, "front coding: \(data.count) bytes for \(plain) bytes of paths")
    }

    @Test func theLatestSessionComesFirstAndPathsReadOnceFadeFirst() {
        var profile = AccessProfile().merged(with: ["a", "b", "c"])
        profile = profile.merged(with: ["c", "a", "c"])
        #expect(profile.paths == ["c", "a", "b"])
        #expect(profile.entries.map(\.reads) == [2, 2, 1])
        #expect(profile.entries.map(\.idle) == [0, 0, 1])
        // b (read once) survives one session without a read, not two; a and c (read twice) two.
        profile = profile.merged(with: ["d"])
        #expect(profile.paths == ["d", "c", "a"])
        profile = profile.merged(with: ["d"])
        #expect(profile.paths == ["d", "c", "a"])
        profile = profile.merged(with: ["d"])
        #expect(profile.paths == ["d"])
    }

    @Test func aProfileIsBounded() {
        let profile = AccessProfile().merged(with: (0...AccessProfile.maxEntries + 10).map { "f\($0)" })
        #expect(profile.entries.count == AccessProfile.maxEntries)
        #expect(profile.paths.first == "f0")
    }

    /// `LZP1`, then `numbers` as bytes, then `text`, then `tail`.
    static func raw(_ numbers: [UInt8], _ text: String = "", _ tail: [UInt8] = []) -> Data {
        Data("LZP1".utf8) + Data(numbers) + Data(text.utf8) + Data(tail)
    }

    static let malformed: [(String, Data)] = [
        ("no header", Data("XXXX".utf8)),
        ("count past the end", raw([2, 1, 0, 0, 1], "a")),
        ("prefix longer than the previous path", raw([1, 1, 0, 5, 1], "a")),
        ("dot-dot", raw([1, 1, 0, 0, 5], "../up")),
        ("absolute", raw([1, 1, 0, 0, 4], "/etc")),
        ("empty component", raw([1, 1, 0, 0, 3], "a//")),
        ("duplicate", raw([2, 1, 0, 0, 1], "a", [1, 0, 1, 0])),
        ("trailing bytes", raw([1, 1, 0, 0, 1], "a", [9])),
        ("unterminated number", raw([0xFF, 0xFF])),
        ("too many paths", raw([0xFF, 0xFF, 0xFF, 0x7F])),
    ]

    /// Profiles come from the remote: anything but well-formed relative paths is refused.
    @Test(arguments: malformed)
    func malformedProfilesAreRefused(_ what: String, _ data: Data) {
        #expect(throws: CASError.self, "\(what)") { try AccessProfile(decoding: data) }
    }

    @Test func theStoreKeepsProfilesAcrossInstancesAndDropsTheLeastRecentlyUsed() throws {
        let big = AccessProfile().merged(with: (0..<2000).map { "dir\($0)/\(UUID().uuidString)" })
        let size = Int64(big.encoded().count)
        let store = ProfileStore(cacheRoot: dir.path, limit: size * 5 / 2)
        try store.save(big, as: "ref:one")
        try store.save(big, as: "ref:two")
        #expect(ProfileStore(cacheRoot: dir.path).load("ref:one") == big, "a new instance (a restart) reads what was saved")
        // ref:one was just used, ref:two not: a third profile pushes ref:two out.
        try store.save(big, as: "ref:three")
        #expect(store.load("ref:two") == nil)
        #expect(store.load("ref:one") == big)
        #expect(store.load("ref:three") == big)
        #expect(store.usage.profiles == 2)
    }

    @Test func aDamagedProfileFileIsDroppedNotServed() throws {
        let store = ProfileStore(cacheRoot: dir.path)
        try store.save(AccessProfile().merged(with: ["a"]), as: "ref:x")
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: store.directory).first)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: store.directory + "/" + file))
        #expect(store.load("ref:x") == nil)
        #expect(store.usage.profiles == 0)
    }
}
