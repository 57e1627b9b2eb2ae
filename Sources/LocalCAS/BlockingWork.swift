import Foundation

/// Runs blocking work (a host program, unpacking and importing a large tarball, writing
/// thousands of Directory nodes) on a thread of its own, so that it never holds one of Swift
/// concurrency's few cooperative threads: on a 2-core machine two such jobs would otherwise
/// stall every other task of the process.
public enum BlockingWork {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
