import CFuse

/// A FUSE request handle that may cross into a Task.
///
/// `@unchecked Sendable` is safe: libfuse allows replying to a request from any thread, after
/// the callback has returned, exactly once; ``FuseAdapter`` replies once per request.
struct FuseRequest: @unchecked Sendable {
    let raw: fuse_req_t
}

/// A copy of a `fuse_file_info` taken during a callback (the pointer libfuse passes is only
/// valid until the callback returns), for a reply sent later.
struct FileInfoCopy: @unchecked Sendable {
    var value: fuse_file_info
}
