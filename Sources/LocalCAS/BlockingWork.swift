import Glibc

/// Runs blocking work (a host program, unpacking and importing a large tarball, writing
/// thousands of Directory nodes) on a thread of its own, so that it never holds one of Swift
/// concurrency's few cooperative threads: on a 2-core machine two such jobs would otherwise
/// stall every other task of the process.
public enum BlockingWork {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            detach { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Runs `body` on a new detached POSIX thread (Foundation's `Thread` without Foundation:
    /// the mount daemon links FoundationEssentials only).
    public static func detach(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(Job(body)).toOpaque()
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, { raw in
            let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
            job.body()
            return nil
        }, box)
        precondition(started == 0, "cannot start a thread: \(String(cString: strerror(started)))")
        pthread_detach(thread)
    }

    private final class Job: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}
