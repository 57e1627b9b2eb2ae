import Glibc

/// Why a filesystem operation failed, independent of FUSE; turned into an `errno` only by
/// the FUSE front end.
public enum FileSystemError: Error, Sendable, Equatable {
    case notFound
    case notDirectory
    case isDirectory
    case notSymlink
    case readOnly
    case noAttribute
    case rangeTooSmall
    /// Content could not be fetched or verified (remote down, blob missing, corrupt).
    case io

    public var errno: Int32 {
        switch self {
        case .notFound: ENOENT
        case .notDirectory: ENOTDIR
        case .isDirectory: EISDIR
        case .notSymlink: EINVAL
        case .readOnly: EROFS
        case .noAttribute: ENODATA
        case .rangeTooSmall: ERANGE
        case .io: EIO
        }
    }
}
