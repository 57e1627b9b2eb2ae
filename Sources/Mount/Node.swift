import LocalCAS

/// An entry of an immutable tree, as the filesystem model sees it (no inode number: those are
/// the FUSE front end's).
public enum Node: Sendable, Equatable {
    case directory(Digest)
    case file(digest: Digest, isExecutable: Bool)
    case symlink(target: String)

    /// The `user.reapi.digest` of the node: its Directory or blob digest; nil for symlinks.
    public var digest: Digest? {
        switch self {
        case .directory(let d): d
        case .file(let d, _): d
        case .symlink: nil
        }
    }
}

/// The attributes a node shows, before the front end packs them (with an inode number) into a
/// `struct stat`.
public struct NodeAttributes: Sendable, Equatable {
    public enum Kind: Sendable { case directory, file, symlink }
    public var kind: Kind
    /// Permission bits (no file type bits).
    public var permissions: UInt32
    public var size: Int64
    public var linkCount: UInt32
}
