import Foundation
import LocalCAS

/// The bytes a read is answered with: an open file or an arriving blob to splice the asked-for
/// range from (nothing copied through this process), or bytes in memory.
public enum FileData: Sendable {
    case file(OpenFile)
    case incoming(any IncomingBlob)
    case bytes(Data)
}

/// What ``LazyFileSystem/read(_:offset:size:location:)`` answers: now (the blob is local, or
/// the range of an arriving one is there), or later, from a task that fetches first.
public enum ReadOutcome: Sendable {
    case ready(Result<FileData, FileSystemError>)
    case pending(Task<Result<FileData, FileSystemError>, Never>)
}
