import CFuse

/// A FUSE request handle that may cross into a Task.
///
/// `@unchecked Sendable` is safe: libfuse allows replying to a request from any thread, after
/// the callback has returned, exactly once; ``FuseFrontEnd`` replies once per request.
struct FuseRequest: @unchecked Sendable {
    let raw: fuse_req_t
}

/// The `fuse_session` pointer, shared with Tasks that send notifications.
///
/// `@unchecked Sendable` is safe: libfuse's notify functions may be called from any thread
/// while the session exists; ``FuseMount`` clears it before destroying the session.
struct SessionPointer: @unchecked Sendable {
    let raw: OpaquePointer
}
