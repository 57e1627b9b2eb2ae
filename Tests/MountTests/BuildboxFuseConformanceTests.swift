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
        let theirMount = ours.dir.sub("bbfuse")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestEnvironment.buildboxFusePath)
        process.arguments = ["--local=\(ours.dir.sub("bbfuse-cache"))", "--remote=http://127.0.0.1:\(ours.casd.port)",
                             "--input-digest-value=\(ours.root)", theirMount]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            // buildbox-fuse exits once unmounted (it does not act on SIGTERM while mounted).
            let u = Process()
            u.executableURL = URL(fileURLWithPath: "/bin/fusermount3")
            u.arguments = ["-u", "-z", theirMount]
            try? u.run()
            u.waitUntilExit()
            for _ in 0..<200 where process.isRunning { usleep(25_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        for _ in 0..<400 where !Mountpoint.isMounted(theirMount) { try await Task.sleep(for: .milliseconds(25)) }
        #expect(Mountpoint.isMounted(theirMount), "buildbox-fuse did not mount")

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
