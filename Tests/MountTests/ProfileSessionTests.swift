import Foundation
import Glibc
import LocalCAS
import Mount
import TestSupport
import Testing

/// Access profiles on real FUSE mounts of trees held by a real buildbox-casd: one session
/// records what is read, the next (a new version of the tree: same paths, new contents)
/// fetches those blobs before it asks.
@Suite(.enabled(if: TestEnvironment.fuseTestsEnabled && TestEnvironment.casdTestsEnabled), .serialized)
struct ProfileSessionTests {
    /// 20 directories of 30 small files whose contents name `version`; `without` left out.
    static func version(_ t: inout TreeFixture, _ version: Int, without: Set<String> = []) {
        for d in 0..<20 {
            for f in 0..<30 where !without.contains("d\(d)/f\(f)") {
                t.write("d\(d)/f\(f)", Data("version \(version) of d\(d)/f\(f)\n".utf8))
            }
        }
    }

    @Test func whatOneSessionReadsTheNextHasBeforeItAsks() async throws {
        let casd = try await BuildboxCASD()
        let read = ["d7/f3", "d0/f0", "d19/f29", "d7/f4", "d3/f1"]
        let first = ProfileSession(previous: nil)
        let v1 = try await MountedTree(populate: { Self.version(&$0, 1) }, casd: casd, readAhead: .off, profile: first)
        _ = try await offPool { try (read + ["d7/f3"]).map { try readFile(v1.path + "/" + $0) } }
        await v1.unmount()
        #expect(first.recordedPaths == read, "first reads, in order, each once")
        #expect(first.counts.prefetchedBlobs == 0)

        // The next version: every file's content changed, d3/f1 is gone.
        let second = ProfileSession(previous: first.updated)
        let v2 = try await MountedTree(populate: { Self.version(&$0, 2, without: ["d3/f1"]) }, casd: casd, readAhead: .off, profile: second)
        let digests = try read.dropLast().map { Digest(data: try readFile(v2.source + "/" + $0)) }
        #expect(digests.allSatisfy { !v2.store.contains($0) })
        await second.prefetch(v2.fs)
        #expect(digests.allSatisfy { v2.store.contains($0) }, "the profile's files of the new tree are local before anyone reads them")
        #expect(second.counts.prefetchedBlobs == 4)
        #expect(second.counts.stale == 1, "d3/f1 is not in the new tree")
        let fetched = v2.blobsFetched
        let contents = try await offPool { try read.dropLast().map { String(decoding: try readFile(v2.path + "/" + $0), as: UTF8.self) } }
        #expect(contents == read.dropLast().map { "version 2 of \($0)\n" })
        #expect(v2.blobsFetched == fetched, "nothing more was fetched")
        #expect(second.counts.usedBlobs == 4 && second.counts.wastedBytes == 0, "\(second.counts)")
        #expect(v2.fs.currentStats.profile == second.counts)
        await v2.unmount()
        #expect(second.updated.paths == Array(read.dropLast()) + ["d3/f1"], "d3/f1 was read once and stays one more session")
    }

    /// A cold read of a blob the prefetch is not bringing is fetched at once, on its own, not
    /// after the prefetch's batches (here 600 blobs at 256 a batch, each call delayed 400 ms).
    @Test func aColdReadOutsideTheProfileIsNotQueuedBehindThePrefetch() async throws {
        let casd = try await BuildboxCASD()
        let box = ProxyBox()
        let paths = (0..<20).flatMap { d in (0..<30).map { "d\(d)/f\($0)" } }
        let profile = AccessProfile().merged(with: paths.filter { $0 != "d9/f9" })
        let session = ProfileSession(previous: profile)
        let m = try await MountedTree(populate: { Self.version(&$0, 1) }, casd: casd, remote: box.start, readAhead: .off, profile: session)
        box.proxy!.setFaults { $0.delay = .milliseconds(400) }
        let prefetch = Task { await session.prefetch(m.fs) }
        try await Task.sleep(for: .milliseconds(100))
        let clock = ContinuousClock()
        let started = clock.now
        let data = try await offPool { try readFile(m.path + "/d9/f9") }
        let took = clock.now - started
        #expect(String(decoding: data, as: UTF8.self) == "version 1 of d9/f9\n")
        let prefetchedSoFar = session.counts.prefetchedBlobs
        await prefetch.value
        #expect(prefetchedSoFar < 599, "the read finished before the prefetch (\(took), \(prefetchedSoFar) blobs prefetched)")
        #expect(session.counts.prefetchedBlobs == 599)
        await m.unmount()
        await box.proxy!.stop()
    }
}
