import Foundation

/// A private CA, a server certificate for 127.0.0.1 and a client certificate that it signed,
/// and a client certificate it did not sign, made with openssl in `directory`.
public struct TestCertificates: Sendable {
    public let ca: String
    public let serverCert: String, serverKey: String
    public let clientCert: String, clientKey: String
    /// Self-signed: a CA that trusts only ``ca`` must refuse it.
    public let strangerCert: String, strangerKey: String

    public init(in directory: String) throws {
        func path(_ name: String) -> String { directory + "/" + name }
        ca = path("ca.pem")
        (serverCert, serverKey) = (path("server.pem"), path("server.key"))
        (clientCert, clientKey) = (path("client.pem"), path("client.key"))
        (strangerCert, strangerKey) = (path("stranger.pem"), path("stranger.key"))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n".write(toFile: path("server.ext"), atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: path("client.ext"), atomically: true, encoding: .utf8)
        try Self.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", path("ca.key"), "-out", ca,
                          "-days", "1", "-subj", "/CN=lazycas test CA"])
        for (name, cn) in [("server", "127.0.0.1"), ("client", "a builder")] {
            try Self.openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", path(name + ".key"), "-out", path(name + ".csr"),
                              "-subj", "/CN=\(cn)"])
            try Self.openssl(["x509", "-req", "-in", path(name + ".csr"), "-CA", ca, "-CAkey", path("ca.key"), "-CAcreateserial",
                              "-out", path(name + ".pem"), "-days", "1", "-extfile", path(name + ".ext")])
        }
        try Self.openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", strangerKey, "-out", strangerCert,
                          "-days", "1", "-subj", "/CN=a stranger"])
    }

    private static func openssl(_ arguments: [String]) throws {
        let result = try runTool(["/usr/bin/openssl"] + arguments)
        guard result.status == 0 else { throw TestSupportError("openssl \(arguments.joined(separator: " ")) failed:\n\(result.output)") }
    }
}
