/// Something wrong with a project: its files (YAML syntax, unknown keys and kinds, undefined
/// variables, misplaced sources), or its element graph (a missing element, a dependency cycle).
/// The message says what and where (`FILE:LINE:COL: …`); `cause` is the lower-level error, if
/// there was one. The CLI exits 1 for it: the input is wrong, nothing remote failed.
public struct ProjectError: Error, CustomStringConvertible {
    public let message: String
    public let cause: (any Error)?

    public init(_ message: String, cause: (any Error)? = nil) {
        self.message = message
        self.cause = cause
    }

    public var description: String { cause.map { "\(message): \($0)" } ?? message }
}
