import ArgumentParser
import Foundation
import LocalCAS
import RemoteCAS

/// Flags naming the remote CAS, in BuildBox's spelling.
struct RemoteOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Remote CAS: grpc://HOST:PORT, grpcs://HOST:PORT or unix:/PATH.", valueName: "url"))
    var remote: String?

    @Option(name: .long, help: "REAPI instance name (default: \"\").")
    var instance: String?

    @Option(name: .long, help: ArgumentHelp("PEM CA certificate that signs the server's (grpcs://).", valueName: "file"))
    var serverCert: String?

    @Option(name: .long, help: ArgumentHelp("PEM client certificate for mutual TLS.", valueName: "file"))
    var clientCert: String?

    @Option(name: .long, help: ArgumentHelp("PEM client key for mutual TLS.", valueName: "file"))
    var clientKey: String?

    @Option(name: .long, help: ArgumentHelp("File holding a token, sent as 'authorization: Bearer TOKEN'.", valueName: "file"))
    var tokenFile: String?

    @Option(name: .long, help: ArgumentHelp("Deadline of each remote call, in seconds (default 60).", valueName: "seconds"))
    var timeout: Double?

    /// The remote to use, flags over the config file; nil if neither names one.
    func configuration(_ file: ConfigFile) throws(CASError) -> RemoteConfiguration? {
        guard let url = remote ?? file.remote else { return nil }
        return try configuration(url: url, file)
    }

    /// A configuration for the server at `url` with the shared instance, TLS, token and timeout.
    func configuration(url: String, _ file: ConfigFile) throws(CASError) -> RemoteConfiguration {
        var config = RemoteConfiguration(endpoint: try RemoteEndpoint(parsing: url))
        config.instance = instance ?? file.instance ?? ""
        config.serverCertPath = (serverCert ?? file.serverCert).map(expandingTilde)
        config.clientCertPath = (clientCert ?? file.clientCert).map(expandingTilde)
        config.clientKeyPath = (clientKey ?? file.clientKey).map(expandingTilde)
        if let seconds = timeout ?? file.timeout {
            guard seconds > 0 else { throw CASError(.invalidArgument, "--timeout must be positive, got \(seconds)") }
            config.callTimeout = .milliseconds(Int64(seconds * 1000))
        }
        if let path = (tokenFile ?? file.tokenFile).map(expandingTilde) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw CASError(.invalidArgument, "cannot read token file \(path)")
            }
            let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw CASError(.invalidArgument, "token file \(path) is empty") }
            config.accessToken = token
        }
        return config
    }
}
