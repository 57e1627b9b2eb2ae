/// A mount could not be set up or torn down: no FUSE session, an unusable mountpoint, an
/// overlay the kernel refused. The message says what and where; `cause` is the lower-level
/// error, if there was one. (A failing operation *on* a mount is a ``FileSystemError``.)
public struct MountError: Error, CustomStringConvertible {
    public let message: String
    public let cause: (any Error)?

    public init(_ message: String, cause: (any Error)? = nil) {
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(message): \($0)" } ?? message }
}
