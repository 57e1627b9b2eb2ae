import Foundation
import LocalCAS
import Yams

/// The user's defaults, read from `~/.config/lazycas/config.yaml` (or `--config FILE`).
/// Every key is optional; a flag on the command line wins over the file.
///
/// ```yaml
/// remote: grpc://127.0.0.1:50051
/// instance: main
/// cache-dir: /var/cache/lazycas
/// server-cert: /etc/ssl/ca.pem
/// client-cert: /etc/lazycas/client.pem
/// client-key: /etc/lazycas/client.key
/// token-file: ~/.config/lazycas/token
/// timeout: 60        # seconds per call
/// exec-remote: grpc://buildgrid:50051   # build: Execution (and ActionCache) service
/// cas-remote: grpc://buildgrid:50051    # build: CAS, when not the execution server's
/// ac-remote: grpc://buildgrid:50051     # build: ActionCache
/// artifact-remote: grpc://cache:50051   # build: where artifacts are pushed
/// artifact-push: true                   # allow pushing there
/// download: none      # or all: fetch every output file blob after a build
/// remote-jobs: 16     # remote actions in flight
/// bots-remote: grpc://buildgrid:50051   # worker: the scheduler's Bots service
/// ```
struct ConfigFile: Decodable, Sendable {
    var remote: String?
    var instance: String?
    var cacheDir: String?
    var serverCert: String?
    var clientCert: String?
    var clientKey: String?
    var tokenFile: String?
    var timeout: Double?
    var execRemote: String?
    var casRemote: String?
    var acRemote: String?
    var artifactRemote: String?
    var artifactPush: Bool?
    var download: String?
    var remoteJobs: Int?
    var botsRemote: String?
    /// mount, shell, worker: record and use access profiles (default true).
    var profiles: Bool?
    var prefetchBudget: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case remote, instance, timeout
        case cacheDir = "cache-dir"
        case serverCert = "server-cert"
        case clientCert = "client-cert"
        case clientKey = "client-key"
        case tokenFile = "token-file"
        case execRemote = "exec-remote"
        case casRemote = "cas-remote"
        case acRemote = "ac-remote"
        case artifactRemote = "artifact-remote"
        case artifactPush = "artifact-push"
        case download
        case remoteJobs = "remote-jobs"
        case botsRemote = "bots-remote"
        case profiles
        case prefetchBudget = "prefetch-budget"
    }

    static var defaultPath: String {
        let base = ProcessInfo.processInfo.environment["XDG_CONFIG_HOME"] ?? (homeDirectory + "/.config")
        return base + "/lazycas/config.yaml"
    }

    /// Loads the file at `path`; a missing default file is an empty config, a missing explicit
    /// one is an error. Unknown keys are an error, so a typo does not go unnoticed.
    static func load(explicitPath: String?) throws(CASError) -> ConfigFile {
        let path = explicitPath ?? defaultPath
        guard let data = FileManager.default.contents(atPath: path) else {
            if explicitPath != nil { throw CASError(.invalidArgument, "cannot read config file \(path)") }
            return ConfigFile()
        }
        let text = String(decoding: data, as: UTF8.self)
        do {
            if let keys = try Yams.load(yaml: text) as? [String: Any] {
                let known = Set(CodingKeys.allCases.map(\.rawValue))
                if let unknown = keys.keys.sorted().first(where: { !known.contains($0) }) {
                    throw CASError(.invalidArgument, "\(path): unknown key '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
                }
            }
            return try YAMLDecoder().decode(ConfigFile.self, from: text)
        } catch let error as CASError {
            throw error
        } catch {
            throw CASError(.invalidArgument, "\(path): \(error)")
        }
    }

    init() {}
}

/// `$HOME`, else the password database's idea of it.
var homeDirectory: String {
    ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()
}

/// Expands a leading `~` to the home directory.
func expandingTilde(_ path: String) -> String {
    guard path.hasPrefix("~") else { return path }
    return homeDirectory + path.dropFirst()
}
