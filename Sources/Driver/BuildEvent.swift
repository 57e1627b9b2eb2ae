import Foundation

/// Something that happened to one element during a build, for the CLI to show.
public struct BuildEvent: Sendable {
    public enum Kind: String, Sendable {
        /// Work on the element began.
        case start = "START"
        /// The server reported a stage of the remote action (QUEUED, EXECUTING…): `message`.
        case stage = "STAGE"
        /// Built (remotely, or locally for import/stack).
        case success = "SUCCESS"
        /// The ActionCache had it, or it was already built.
        case cached = "CACHED"
        case failure = "FAILURE"
        /// Not built because a dependency failed, or the build stopped.
        case skipped = "SKIPPED"
        /// Something BuildStream warns about (overlapping dependencies): `message` says what.
        case warning = "WARNING"
    }

    public var element: String
    /// The cache key, when known.
    public var key: String?
    public var kind: Kind
    public var message: String
    /// Time since the build started.
    public var elapsed: Duration
}

/// An element whose action ran and failed, or that could not be built.
public struct BuildFailure: Error, Sendable, CustomStringConvertible {
    public var element: String
    public var message: String
    /// The last lines of the action's stderr and stdout, when it ran.
    public var logTail: String
    /// The exit code this failure means for `lazycas build`: 3 when the element's commands
    /// failed, 2 for a remote failure, 1 for bad input.
    public var exitCode: Int32 = 3

    public var description: String { "\(element): \(message)" }
}
