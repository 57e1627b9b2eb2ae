import GRPCCore

/// Attaches the bearer token, if any, as `authorization` metadata to every call. (Calls are
/// counted where they are made, ``Metrics/counting(_:_:)``: an interceptor never sees an attempt
/// that found no connection.)
struct CallInterceptor: ClientInterceptor {
    let accessToken: String?

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>,
        context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        if let accessToken {
            request.metadata.replaceOrAddString("Bearer \(accessToken)", forKey: "authorization")
        }
        return try await next(request, context)
    }
}
