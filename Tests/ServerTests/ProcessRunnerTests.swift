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
        let outcome = try await ProcessRunner.run(["sleep", "30"], stdout: dir.path + "/out", stderr: dir.path + "/err",
                                                  timeout: .milliseconds(300))
        #expect(outcome == .timedOut)
        // Well under the 30 s the command would take: it was killed (the bound allows a loaded machine).
        #expect(ContinuousClock.now - started < .seconds(20))
    }
}
