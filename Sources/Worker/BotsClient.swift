import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import RemoteCAS
import REAPI

/// The Remote Workers API (v1test2) Bots service of a scheduler such as BuildGrid.
struct BotsClient: Sendable {
    typealias Session = Google_Devtools_Remoteworkers_V1test2_BotSession
    let connection: RemoteConnection
    let stub: Google_Devtools_Remoteworkers_V1test2_Bots.Client<HTTP2ClientTransport.Posix>

    init(connection: RemoteConnection) {
        self.connection = connection
        stub = .init(wrapping: connection.client)
    }

    var endpoint: String { connection.configuration.endpoint.description }

    /// Registers `session` under `parent` (the instance); the reply carries its name.
    func create(_ session: Session, parent: String, timeout: Duration) async throws -> Session {
        var request = Google_Devtools_Remoteworkers_V1test2_CreateBotSessionRequest()
        request.parent = parent
        request.botSession = session
        return try await connection.metrics.counting("CreateBotSession") {
            try await stub.createBotSession(request, options: Self.options(timeout))
        }
    }

    /// Reports `session` (its leases' states and results) and waits, up to `timeout`, for the
    /// scheduler's answer: new leases, or the same ones once it has nothing to give.
    func update(_ session: Session, timeout: Duration) async throws -> Session {
        var request = Google_Devtools_Remoteworkers_V1test2_UpdateBotSessionRequest()
        request.name = session.name
        request.botSession = session
        return try await connection.metrics.counting("UpdateBotSession") {
            try await stub.updateBotSession(request, options: Self.options(timeout))
        }
    }

    private static func options(_ timeout: Duration) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = timeout
        return options
    }

    /// Errors after which the same session may be used again: the scheduler is unreachable or
    /// slow (``RetryPolicy/isUnreachable(_:)``), or the call never got an answer at all; any
    /// other answer (its own failures included) means it does not accept this session any more.
    static func isTransient(_ error: any Error) -> Bool {
        !(error is RPCError) || RetryPolicy.isUnreachable(error)
    }
}
