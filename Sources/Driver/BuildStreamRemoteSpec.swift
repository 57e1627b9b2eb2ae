import Foundation
import RemoteCAS

/// One remote as BuildStream's configuration names it (`artifacts: servers:`, a project's
/// `artifacts:` list, `cache: storage-service:`, `remote-execution: storage-service:`): a URL,
/// an instance name, what the server is for, and the files that authenticate to it.
public struct BuildStreamRemoteSpec: Sendable, Equatable {
    /// What an artifact server is asked for: names (Remote Asset), blobs (CAS), or both.
    public enum Role: String, Sendable {
        case index, storage, all
    }

    public var url: String
    public var instance: String
    public var role: Role
    /// Absolute paths (relative ones are resolved against the file that named them).
    public var serverCert: String?
    public var clientKey: String?
    public var clientCert: String?
    /// A file holding a bearer token (BuildStream re-reads it; lazycas reads it once per command).
    public var accessTokenFile: String?
    /// Where the spec was written, for messages.
    public var origin: String

    /// Whether names (Remote Asset FetchBlob) can be asked here.
    public var isIndex: Bool { role != .storage }
    /// Whether blobs can be read here.
    public var isStorage: Bool { role != .index }

    /// Reads a spec mapping (`url`, `instance-name`, `type`, `push`, `auth`,
    /// `connection-config`), resolving file paths against `base`.
    init(_ node: YAMLNode, base: String) throws(ProjectError) {
        let keys = try node.keyed("a remote", allowed: ["url", "instance-name", "type", "push", "auth", "connection-config"])
        guard let url = keys["url"] else { throw node.error("a remote needs a 'url'") }
        self.url = try url.string("'url'")
        instance = try keys["instance-name"]?.string("'instance-name'") ?? ""
        let type = try keys["type"]?.string("'type'") ?? "all"
        guard let role = Role(rawValue: type) else { throw keys["type"]!.error("'type' must be index, storage or all, not '\(type)'") }
        self.role = role
        origin = node.location
        let auth = try keys["auth"]?.keyed("'auth'", allowed: ["server-cert", "client-key", "client-cert", "access-token", "access-token-reload-interval"]) ?? [:]
        func path(_ key: String) throws(ProjectError) -> String? {
            guard let value = try auth[key]?.string("'\(key)'") else { return nil }
            let expanded = NSString(string: value).expandingTildeInPath
            return expanded.hasPrefix("/") ? expanded : base + "/" + expanded
        }
        serverCert = try path("server-cert")
        clientKey = try path("client-key")
        clientCert = try path("client-cert")
        accessTokenFile = try path("access-token")
        if (clientKey == nil) != (clientCert == nil) {
            throw node.error("'auth' needs both 'client-key' and 'client-cert', or neither")
        }
    }

    /// How lazycas connects to it (plaintext for `http://`, TLS for `https://`).
    /// - Throws: for a malformed URL or an unreadable token file, naming where the spec was written.
    public func configuration() throws(ProjectError) -> RemoteConfiguration {
        let endpoint: RemoteEndpoint
        do {
            endpoint = try RemoteEndpoint(parsing: url)
        } catch {
            throw ProjectError("\(origin): \(error.description)")
        }
        var token: String?
        if let accessTokenFile {
            guard let data = FileManager.default.contents(atPath: accessTokenFile) else {
                throw ProjectError("\(origin): cannot read the access token file \(accessTokenFile)")
            }
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return RemoteConfiguration(endpoint: endpoint, instance: instance, serverCertPath: serverCert,
                                   clientCertPath: clientCert, clientKeyPath: clientKey, accessToken: token)
    }
}
