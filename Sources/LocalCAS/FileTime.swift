import Glibc

/// The special values of `utimensat(2)` and `futimens(2)`, which are C macros Swift does not
/// import.
public enum FileTime {
    /// Leave this time as it is (`UTIME_OMIT`).
    public static let omit = timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2)
    /// Set this time to now (`UTIME_NOW`).
    public static let now = timespec(tv_sec: 0, tv_nsec: (1 << 30) - 1)
}
