import GRPCCore
import Logging

/// Who may call what on one listener of `lazycas serve`: a listener whose clients all proved
/// themselves with a certificate signed by `--client-ca` lets every call through; otherwise, when
/// tokens are configured, a call needs `authorization: Bearer TOKEN` with a token of the scope it
/// needs (UNAUTHENTICATED without a valid token, PERMISSION_DENIED outside its scopes). With
/// neither, every call goes through. A refused call is logged with its peer (never its token).
struct AccessControl: ServerInterceptor {
    private let logger = Logger(label: "lazycas.serve")
    let tokens: AccessTokens?
    /// Every client of this listener presented a verified certificate (the TLS handshake
    /// required one).
    let clientsVerified: Bool

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        guard let tokens, !clientsVerified else { return try await next(request, context) }
        let method = context.descriptor.method
        var headers = request.metadata[stringValues: "authorization"].makeIterator()
        guard let header = headers.next(),
              header.hasPrefix("Bearer "),
              let granted = tokens.scopes(of: header.dropFirst("Bearer ".count).drop(while: { $0 == " " }))
        else {
            logger.warning("refused \(method) from \(context.remotePeer): no valid bearer token")
            throw RPCError(code: .unauthenticated, message: "\(method) needs 'authorization: Bearer TOKEN' with a valid token")
        }
        guard let needed = AccessScope.required(for: context.descriptor), granted.contains(needed) else {
            let scope = AccessScope.required(for: context.descriptor)?.rawValue ?? "every"
            logger.warning("refused \(method) from \(context.remotePeer): the token lacks the '\(scope)' scope")
            throw RPCError(code: .permissionDenied, message: "\(method) needs the '\(scope)' scope, which this token lacks")
        }
        return try await next(request, context)
    }
}
