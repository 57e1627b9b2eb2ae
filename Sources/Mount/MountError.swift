import LocalCAS

/// A mount could not be set up or torn down: no FUSE session, an unusable mountpoint, an
/// overlay the kernel refused. (A failing operation *on* a mount is a ``FileSystemError``.)
public typealias MountError = DomainError<MountFailure>

/// The domain of ``MountError``.
public enum MountFailure {}
