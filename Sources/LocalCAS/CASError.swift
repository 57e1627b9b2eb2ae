/// An error raised by the local CAS or anything built on it.
///
/// Errors carry a ``Code`` that callers map to behaviour (exit codes on the CLI, `errno` on
/// the mount), a message that says what is wrong and where, and an optional underlying cause.
public struct CASError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public enum Code: String, Sendable, Hashable, Codable {
        /// Input from the user is malformed: a digest, a ref name, a path.
        case invalidArgument
        /// A blob, ref or path does not exist.
        case notFound
        /// Data received from anywhere does not match what it claims to be.
        case corrupt
        /// A remote server failed, was unreachable, or timed out.
        case remote
        /// A local I/O operation failed.
        case io
    }

    public var code: Code
    public var message: String
    public var cause: (any Error)?

    public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        guard let cause else { return message }
        if let inner = cause as? CASError { return "\(message): \(inner.description)" }
        return "\(message): \(cause)"
    }

    /// Wraps `error` with the context `what` (e.g. "fetching Directory HASH/SIZE"),
    /// keeping the code of an inner `CASError`.
    public static func wrapping(_ error: any Error, _ what: String, default code: Code = .io) -> CASError {
        if let inner = error as? CASError {
            return CASError(inner.code, what, cause: inner)
        }
        return CASError(code, what, cause: error)
    }
}

extension CASError {
    /// The exit status a lazycas program ends with for this error: 1 for bad input, 2 for a
    /// remote (or remote data) failure.
    public var exitCode: Int32 {
        switch code {
        case .invalidArgument, .notFound, .io: 1
        case .remote, .corrupt: 2
        }
    }
}
