import CFuse
import FoundationEssentials
import Glibc
import LocalCAS

/// One answer to one FUSE request, as a value. Every operation of ``FuseFrontEnd`` produces
/// exactly one, and ``send(to:)`` is the only code that calls `fuse_reply_*`: "exactly one
/// reply per request" (libfuse's contract) holds by construction.
enum FuseReply {
    /// `fuse_reply_err`; 0 acknowledges (release, releasedir).
    case error(Int32)
    /// No reply at all: `forget` and `forget_multi` are answered with `fuse_reply_none`.
    case none
    case entry(fuse_entry_param)
    case attributes(stat)
    case link(String)
    /// The `fuse_file_info` of the open request, with the flags set.
    case open(UnsafeMutablePointer<fuse_file_info>)
    /// `size` bytes at `offset` of a file's content: spliced from a descriptor when it is one.
    case data(FileData, offset: Int64, size: Int)
    /// A filled readdir buffer, or an extended attribute's value or names.
    case buffer([UInt8])
    /// The size of an extended attribute (asked with size 0).
    case xattrSize(Int)
    case statfs(statvfs)

    /// Kernel caches of entries and attributes never expire: the tree is immutable.
    static let timeout: Double = 365 * 24 * 3600

    /// Sends the reply; returns libfuse's result (negative errno if the kernel refused it).
    @discardableResult
    func send(to req: fuse_req_t?) -> Int32 {
        switch self {
        case .error(let code):
            return fuse_reply_err(req, code)
        case .none:
            fuse_reply_none(req)
            return 0
        case .entry(var entry):
            return fuse_reply_entry(req, &entry)
        case .attributes(var st):
            return fuse_reply_attr(req, &st, Self.timeout)
        case .link(let target):
            return fuse_reply_readlink(req, target)
        case .open(let fi):
            return fuse_reply_open(req, fi)
        case .data(let data, let offset, let size):
            switch data {
            case .file(let file):
                let (at, count) = file.span(offset: offset, size: size)
                return withExtendedLifetime(file) { cfuse_reply_fd(req, file.fd, count, off_t(at)) }
            case .incoming(let incoming):
                return withExtendedLifetime(incoming) { cfuse_reply_fd(req, incoming.fd, size, off_t(offset)) }
            case .bytes(let bytes):
                return bytes.withUnsafeBytes { fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count) }
            }
        case .buffer(let bytes):
            return bytes.withUnsafeBytes { fuse_reply_buf(req, $0.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count) }
        case .xattrSize(let size):
            return fuse_reply_xattr(req, size)
        case .statfs(var st):
            return fuse_reply_statfs(req, &st)
        }
    }
}
