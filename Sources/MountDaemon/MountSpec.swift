import FoundationEssentials
import Glibc
import LocalCAS
import Mount
import RemoteCAS

/// Everything the mount daemon (`lazycas-mount`) needs to serve one mount, resolved by
/// `lazycas mount` — which tree, where, from which remote — so that the daemon needs neither
/// the config file, nor BuildStream, nor the build driver.
///
/// Handed over as JSON in the environment (``environmentKey``), which only the process's owner
/// can read: the remote's access token travels in it.
public struct MountSpec: Codable, Sendable {
    /// The root Directory, `HASH/SIZE`.
    public var root: String
    /// An absolute path.
    public var mountpoint: String
    /// The local cache (`--cache-dir`).
    public var cacheDirectory: String
    /// Where missing blobs come from; nil: only the local cache (and ``nearby``).
    public var remote: RemoteConfiguration?
    /// BuildStream's local CAS, read before the remote (`bst:` trees).
    public var nearby: String?
    public var readAhead: ReadAheadPolicy
    public var allowOther: Bool
    /// Fetch every missing blob in the background (`--prefetch`).
    public var prefetch: Bool
    /// The access profile to prefetch from and record to; nil: none (a bare digest, `--no-profile`).
    public var profileKey: String?
    /// Bytes the profile's prefetch may fetch; nil: the default.
    public var profileBudget: Int64?
    /// The command that heals blobs the remote lost (``HealerProcess``); nil: no healing.
    public var healer: [String]?
    /// The daemon runs in the background: it leaves the caller's session.
    public var detached: Bool

    public init(root: Digest, mountpoint: String, cacheDirectory: String, remote: RemoteConfiguration?,
                nearby: String?, readAhead: ReadAheadPolicy, allowOther: Bool, prefetch: Bool,
                profileKey: String?, profileBudget: Int64?, healer: [String]?, detached: Bool) {
        self.root = root.description
        self.mountpoint = mountpoint
        self.cacheDirectory = cacheDirectory
        self.remote = remote
        self.nearby = nearby
        self.readAhead = readAhead
        self.allowOther = allowOther
        self.prefetch = prefetch
        self.profileKey = profileKey
        self.profileBudget = profileBudget
        self.healer = healer
        self.detached = detached
    }

    /// The environment variable that carries a spec to `lazycas-mount` and to its healer.
    public static let environmentKey = "LAZYCAS_MOUNT_SPEC"

    /// `NAME=VALUE` for ``environmentKey``.
    public var environmentEntry: String {
        // Encoding plain values cannot fail.
        let json = try! JSONEncoder().encode(self)
        return Self.environmentKey + "=" + String(decoding: json, as: UTF8.self)
    }

    /// The environment to start the daemon with: this process's, the spec, and a fixed malloc
    /// mmap threshold (unless one is set). Blobs arrive in messages of up to a few MiB; with
    /// glibc's sliding threshold their buffers move into the heap after the first is freed and
    /// stay there, fragmented, for the life of the mount. Kept mmapped, they go back to the
    /// system when freed.
    public var daemonEnvironment: [String] {
        let own = ChildProcess.currentEnvironment
        let threshold = own.contains { $0.hasPrefix("MALLOC_MMAP_THRESHOLD_=") } ? [] : ["MALLOC_MMAP_THRESHOLD_=131072"]
        return own + threshold + [environmentEntry]
    }

    /// The spec in this process's environment, which is then cleared of it (no program the
    /// daemon starts inherits the token by accident).
    /// - Throws: `.invalidArgument` when there is none or it does not parse.
    public static func takeFromEnvironment() throws(CASError) -> MountSpec {
        guard let raw = getenv(environmentKey) else {
            throw CASError(.invalidArgument, "no mount to serve: \(environmentKey) is not set (lazycas-mount is started by `lazycas mount`)")
        }
        let text = String(cString: raw)
        unsetenv(environmentKey)
        do {
            return try JSONDecoder().decode(MountSpec.self, from: Data(text.utf8))
        } catch {
            throw CASError(.invalidArgument, "\(environmentKey) is not a mount spec", cause: error)
        }
    }

    /// The daemon executable, `lazycas-mount` (``CompanionExecutable``).
    public static func daemonExecutable() throws(CASError) -> String {
        guard let path = CompanionExecutable.find("lazycas-mount") else {
            throw CASError(.notFound, "cannot find lazycas-mount, the mount daemon: install it beside lazycas")
        }
        return path
    }
}
