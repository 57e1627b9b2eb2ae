import Foundation
import GRPCNIOTransportHTTP2Posix
import LocalCAS

/// How `lazycas serve` protects itself: TLS for its `grpcs://` listeners (a certificate chain
/// and key, and optionally a CA whose certificates clients must present: mutual TLS) and
/// bearer tokens with scopes (``AccessTokens``) for every listener.
public struct ServerSecurity: Sendable {
    /// PEM files for `grpcs://` listeners.
    public struct TLS: Sendable {
        public var certificateChain: String
        public var privateKey: String
        /// Clients must present a certificate signed by this CA (PEM); such a client may call
        /// anything.
        public var clientCA: String?

        /// - Throws: ``CASError`` (invalid argument) naming a file that cannot be read.
        public init(certificateChain: String, privateKey: String, clientCA: String? = nil) throws(CASError) {
            for path in [certificateChain, privateKey, clientCA].compactMap({ $0 })
            where !FileManager.default.isReadableFile(atPath: path) {
                throw CASError(.invalidArgument, "cannot read TLS file \(path)")
            }
            self.certificateChain = certificateChain
            self.privateKey = privateKey
            self.clientCA = clientCA
        }

        var transportSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
            .tls(certificateChain: [.file(path: certificateChain, format: .pem)],
                 privateKey: .file(path: privateKey, format: .pem)) { config in
                if let clientCA {
                    config.clientCertificateVerification = .noHostnameVerification
                    config.trustRoots = .certificates([.file(path: clientCA, format: .pem)])
                }
            }
        }
    }

    public var tls: TLS?
    public var tokens: AccessTokens?

    /// No TLS, no tokens: anyone who can reach a listener may call anything.
    public static let open = ServerSecurity()

    public init(tls: TLS? = nil, tokens: AccessTokens? = nil) {
        self.tls = tls
        self.tokens = tokens
    }
}
