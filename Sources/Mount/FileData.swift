import FoundationEssentials
import LocalCAS
import Synchronization

/// The bytes a read is answered with: an open file or an arriving blob to splice the asked-for
/// range from (nothing copied through this process), or bytes in memory.
public enum FileData: Sendable {
    case file(OpenFile)
    case incoming(any IncomingBlob)
    case bytes(Data)
}

/// What ``LazyFileSystem/read(_:offset:size:location:)`` answers: now (the blob is local, or
/// the range of an arriving one is there), or later, once a fetch has brought it.
public enum ReadOutcome: Sendable {
    case ready(Result<FileData, FileSystemError>)
    case pending(PendingRead)
}

/// A read answered later: fulfilled once, by the task fetching its blob; whoever waits registers
/// a handler, called once with the result (at once if it is already there), from the fulfilling
/// task — no task of its own waits for it.
public final class PendingRead: Sendable {
    private let state = Mutex<(result: Result<FileData, FileSystemError>?, handlers: [@Sendable (Result<FileData, FileSystemError>) -> Void])>((nil, []))

    public init() {}

    /// Sets the result and calls the handlers; later calls are ignored.
    public func fulfill(_ result: Result<FileData, FileSystemError>) {
        let handlers = state.withLock { s -> [@Sendable (Result<FileData, FileSystemError>) -> Void] in
            guard s.result == nil else { return [] }
            s.result = result
            defer { s.handlers = [] }
            return s.handlers
        }
        for handler in handlers { handler(result) }
    }

    /// Calls `handler` with the result once there is one.
    public func whenDone(_ handler: @escaping @Sendable (Result<FileData, FileSystemError>) -> Void) {
        let now = state.withLock { s -> Result<FileData, FileSystemError>? in
            if s.result == nil { s.handlers.append(handler) }
            return s.result
        }
        if let now { handler(now) }
    }
}
