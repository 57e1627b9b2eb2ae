import Foundation
import Glibc
import Sandbox
import TestSupport
import Testing

@Suite struct ProcessRunnerTests {
    @Test func childrenInheritNoDescriptorsButTheirStandardOnes() async throws {
        let dir = TemporaryDirectory()
        // A descriptor without O_CLOEXEC, as any library in the server might leave open.
        let leaked = open("/etc/hostname", O_RDONLY)
        #expect(leaked > 2)
        defer { close(leaked) }
        let outcome = try await ProcessRunner.run(["sh", "-c", "ls /proc/self/fd"], stdout: dir.path + "/out",
                                                  stderr: dir.path + "/err", timeout: .seconds(10))
        #expect(outcome == .exited(0))
        let fds = try String(contentsOfFile: dir.path + "/out", encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(!fds.contains(leaked), "descriptor \(leaked) leaked into the child: \(fds)")
        #expect(Set(fds).isSuperset(of: [0, 1, 2]))
    }

    @Test func aTimeoutKillsAndSaysSo() async throws {
        let dir = TemporaryDirectory()
        let started = ContinuousClock.now
        let outcome = try await ProcessRunner.run(["sleep", "600"], stdout: dir.path + "/out", stderr: dir.path + "/err",
                                                  timeout: .milliseconds(300))
        #expect(outcome == .timedOut)
        // Far under the 600 s the command would take: it was killed. The bound allows for this
        // process stalling: the first pass starts every unit test at once on 2 cores, and quick
        // tests have been seen to take 20 s there.
        #expect(ContinuousClock.now - started < .seconds(120))
    }
}
