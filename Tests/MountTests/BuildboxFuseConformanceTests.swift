import Foundation
import Glibc
import LocalCAS
import Mount
import TestSupport
import Testing

/// buildbox-fuse is the reference: for the same tree, listings and file contents through both
/// mounts must be identical. A conformance test, not a speed test.
@Suite(.enabled(if: TestEnvironment.fuseTestsEnabled && TestEnvironment.casdTestsEnabled), .serialized)
struct BuildboxFuseConformanceTests {
    @Test func listingsAndContentsMatchBuildboxFuse() async throws {
        let ours = try await MountedTree(populate: MountTests.sampleTree)
        let theirs = try await BuildboxFuse(remotePort: ours.casd.port, root: ours.root.description,
                                            mountpoint: ours.dir.sub("bbfuse"), cache: ours.dir.sub("bbfuse-cache"))
        defer { theirs.stop() }
        let theirMount = theirs.mountpoint
        let (a, b) = try await offPool { (try MountTests.walk(ours.path), try MountTests.walk(theirMount)) }
        // buildbox-fuse shows permission bits its own way; compare names, types, sizes,
        // executability and symlink targets, which both must get right.
        #expect(a.keys.sorted() == b.keys.sorted())
        #expect(a == b)
        let files = a.filter { $0.value.hasPrefix("file") }.keys.sorted()
        let differing = try await offPool {
            try files.filter { try readFile(ours.path + "/" + $0) != readFile(theirMount + "/" + $0) }
        }
        #expect(differing.isEmpty)
        #expect(files.count > 300)
        await ours.unmount()
    }
}
