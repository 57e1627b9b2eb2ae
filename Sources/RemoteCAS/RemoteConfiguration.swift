import LocalCAS

/// Everything needed to talk to one REAPI server: its endpoint, the instance name, TLS files,
/// credentials, and the time limits every call obeys.
public struct RemoteConfiguration: Sendable, Codable {
    public var endpoint: RemoteEndpoint
    /// The REAPI instance name; `""` is the default instance.
    public var instance: String
    /// PEM file of the CA (or server certificate) to trust; the system roots when nil.
    public var serverCertPath: String?
    /// PEM client certificate and key for mutual TLS.
    public var clientCertPath: String?
    public var clientKeyPath: String?
    /// A bearer token sent as `authorization: Bearer TOKEN` on every call.
    public var accessToken: String?
    /// The deadline of every unary call and of each streamed chunk wait.
    public var callTimeout: Duration
    /// Attempts per call, counting the first, for UNAVAILABLE / RESOURCE_EXHAUSTED / DEADLINE_EXCEEDED.
    public var maxAttempts: Int
    /// Transfers in flight at once (batches and streams).
    public var maxConcurrentTransfers: Int

    public init(endpoint: RemoteEndpoint, instance: String = "", serverCertPath: String? = nil,
                clientCertPath: String? = nil, clientKeyPath: String? = nil, accessToken: String? = nil,
                callTimeout: Duration = .seconds(60), maxAttempts: Int = 4, maxConcurrentTransfers: Int = 16) {
        self.endpoint = endpoint
        self.instance = instance
        self.serverCertPath = serverCertPath
        self.clientCertPath = clientCertPath
        self.clientKeyPath = clientKeyPath
        self.accessToken = accessToken
        self.callTimeout = callTimeout
        self.maxAttempts = maxAttempts
        self.maxConcurrentTransfers = maxConcurrentTransfers
    }
}
