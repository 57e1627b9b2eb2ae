import Foundation
import LocalCAS

/// What building an element produced: the root of its artifact tree and how it came to be.
/// Stored as JSON beside the ref `PROJECT/ELEMENT/KEY`, which points at `root`.
public struct Artifact: Codable, Sendable, Equatable {
    public var project: String
    public var element: String
    /// The cache key: for a `manual` element the Action digest's hash; for `import` and
    /// `stack`, a hash of what they are made of.
    public var key: String
    /// The artifact's root Directory.
    public var root: Digest
    /// The Action that built it, and the `Tree` blob of its output (manual elements).
    public var action: Digest?
    public var tree: Digest?
    /// The build log (manual elements).
    public var stdout: Digest?
    public var stderr: Digest?
    /// When it was recorded.
    public var recorded: Date
    /// True when the ActionCache had it, so nothing ran.
    public var cached: Bool
    /// Where the action ran (manual elements): the execution remote's URL and REAPI instance,
    /// so that an output the remote CAS loses can be re-created there (``ArtifactHealer``).
    public var execution: String? = nil
    public var instance: String? = nil
    /// The project's directory when it was built: where an `import` element's sources are.
    public var projectRoot: String? = nil

    /// `PROJECT/ELEMENT/KEY`, the ref that points at ``root``.
    public var refName: String { "\(project)/\(element)/\(key)" }
}

extension Digest: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try Digest(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
