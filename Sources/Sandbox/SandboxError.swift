/// An action could not be validated, set up or run: a malformed Command, a process that
/// cannot be spawned, a staging directory that cannot be made. The message says what and where;
/// `cause` is the lower-level error, if there was one.
public struct SandboxError: Error, CustomStringConvertible {
    public let message: String
    public let cause: (any Error)?

    public init(_ message: String, cause: (any Error)? = nil) {
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(message): \($0)" } ?? message }
}
