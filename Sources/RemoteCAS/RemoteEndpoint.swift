import LocalCAS

/// Where a REAPI server listens: `grpc://host:port` (plaintext), `grpcs://host:port` (TLS) or
/// `unix:/path` (a Unix domain socket). `http://` and `https://` are accepted as aliases, as
/// BuildBox tools spell them.
public struct RemoteEndpoint: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Address: Sendable, Hashable, Codable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var address: Address
    public var usesTLS: Bool

    public init(address: Address, usesTLS: Bool) {
        self.address = address
        self.usesTLS = usesTLS
    }

    /// Parses an endpoint URL. For an address to listen on, port 0 (any free port) is allowed.
    /// - Throws: `.invalidArgument` saying what is wrong with `text`.
    public init(parsing text: String, forListening: Bool = false) throws(CASError) {
        if text.hasPrefix("unix:") {
            var path = String(text.dropFirst("unix:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }
            guard path.hasPrefix("/") else {
                throw CASError(.invalidArgument, "invalid remote '\(text)': unix: needs an absolute path, e.g. unix:/run/lazycas.sock")
            }
            self.init(address: .unix(path: path), usesTLS: false)
            return
        }
        let schemes: [(String, Bool)] = [("grpc://", false), ("http://", false), ("grpcs://", true), ("https://", true)]
        guard let (scheme, tls) = schemes.first(where: { text.hasPrefix($0.0) }) else {
            throw CASError(.invalidArgument, "invalid remote '\(text)': expected grpc://HOST:PORT, grpcs://HOST:PORT or unix:/PATH")
        }
        var rest = text.dropFirst(scheme.count)
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        let host: Substring
        let portText: Substring
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            host = rest[rest.index(after: rest.startIndex)..<close]
            portText = rest[close...].dropFirst().drop(while: { $0 == ":" })
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
            portText = ""
        }
        guard !host.isEmpty, !host.contains("/") else {
            throw CASError(.invalidArgument, "invalid remote '\(text)': missing or malformed host")
        }
        let port: Int
        if portText.isEmpty {
            port = tls ? 443 : 80
        } else if let p = Int(portText), ((forListening ? 0 : 1)...65535).contains(p) {
            port = p
        } else {
            throw CASError(.invalidArgument, "invalid remote '\(text)': port '\(portText)' is not a number from 1 to 65535")
        }
        self.init(address: .tcp(host: String(host), port: port), usesTLS: tls)
    }

    public var description: String {
        switch address {
        case .tcp(let host, let port):
            let h = host.contains(":") ? "[\(host)]" : host
            return "\(usesTLS ? "grpcs" : "grpc")://\(h):\(port)"
        case .unix(let path):
            return "unix:\(path)"
        }
    }
}
