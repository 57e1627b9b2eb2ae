import GRPCCore

/// Runs on every attempt of every call: counts it in ``Metrics`` and attaches the bearer
/// token, if any, as `authorization` metadata.
struct CallInterceptor: ClientInterceptor {
    let metrics: Metrics
    let accessToken: String?

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>,
        context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        metrics.recordCall(context.descriptor.method)
        var request = request
        if let accessToken {
            request.metadata.replaceOrAddString("Bearer \(accessToken)", forKey: "authorization")
        }
        return try await next(request, context)
    }
}
