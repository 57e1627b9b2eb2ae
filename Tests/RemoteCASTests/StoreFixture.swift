import Foundation
import LocalCAS
import TestSupport

/// A "remote" for the decorator tests: a real local store holding some blobs, behind a
/// ``FaultyContentStore`` that injects faults and records calls.
struct StoreFixture {
    let dir = TemporaryDirectory("decorators")
    let remote: LocalContentStore
    let faulty: FaultyContentStore

    init() throws {
        remote = try LocalContentStore(root: dir.sub("remote"))
        faulty = FaultyContentStore(base: remote)
    }

    /// Stores `count` blobs of `size` random bytes in the remote and returns them.
    func blobs(_ count: Int, size: Int) throws -> [(digest: Digest, data: Data)] {
        var rng = SplitMix64(seed: UInt64(count * 7919 + size))
        return try (0..<count).map { _ in
            let data = Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) })
            return (try remote.put(data), data)
        }
    }

    /// A fresh local store.
    func local(_ name: String = "local") throws -> LocalContentStore {
        try LocalContentStore(root: dir.sub(name))
    }
}
