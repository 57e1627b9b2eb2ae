/// An error of one of lazycas's domains (setting up a mount, running a sandbox, reading a
/// project): a message that says what is wrong and where, and the lower-level error that caused
/// it, if any. `Domain` only tells the domains apart (`MountError` is
/// `DomainError<MountFailure>`), so each can be thrown, typed and caught on its own.
public struct DomainError<Domain>: Error, CustomStringConvertible {
    public let message: String
    public let cause: (any Error)?

    public init(_ message: String, cause: (any Error)? = nil) {
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(message): \($0)" } ?? message }
}
