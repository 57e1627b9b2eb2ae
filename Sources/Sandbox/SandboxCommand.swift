import Foundation

/// One command to run in a bubblewrap sandbox whose `/` is a staged input root: nothing of the
/// host is visible unless `hostTools` binds the system's `/usr`, `/bin`, `/lib`… read-only,
/// and every namespace (network included) is unshared.
public struct SandboxCommand: Sendable {
    /// The directories of the root bubblewrap mounts over (`--proc`, `--dev`, `--tmpfs` below).
    public static let mountPoints = ["proc", "dev", "tmp"]

    /// The staged input root, mounted read-write as `/`; see ``SandboxWorkspace`` for where
    /// it may live.
    public var root: String
    /// Relative to the root; "" is the root.
    public var workingDirectory: String
    public var arguments: [String]
    public var environment: [(name: String, value: String)]
    public var hostTools: Bool
    /// Run as this user (through `setpriv`, before bwrap); nil runs as ourselves.
    public var user: SandboxUser?
    /// Keep the host's network (every other namespace stays unshared).
    public var network = false
    /// Host paths bound read-write into the sandbox: (host, sandbox).
    public var binds: [(host: String, sandbox: String)] = []
    /// Detach from the terminal's session (actions); an interactive shell keeps it.
    public var newSession = true

    public init(root: String, workingDirectory: String, arguments: [String],
                environment: [(name: String, value: String)], hostTools: Bool, user: SandboxUser?) {
        self.root = root
        self.workingDirectory = workingDirectory
        self.arguments = arguments
        self.environment = environment
        self.hostTools = hostTools
        self.user = user
    }

    /// Host directories bound read-only when `hostTools` is set (missing ones are skipped).
    public static let hostToolDirectories = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc/alternatives"]

    /// The full argv: `[setpriv …] bwrap … -- arguments`.
    public func argv(bwrap: String = "bwrap") -> [String] {
        var argv: [String] = []
        if let user {
            argv += ["setpriv", "--reuid=\(user.uid)", "--regid=\(user.gid)", "--clear-groups", "--"]
        }
        argv += [bwrap, "--unshare-all", "--die-with-parent"]
        if network { argv.append("--share-net") }
        if newSession { argv.append("--new-session") }
        argv += ["--bind", root, "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for (host, sandbox) in binds { argv += ["--bind", host, sandbox] }
        if hostTools {
            for dir in Self.hostToolDirectories { argv += ["--ro-bind-try", dir, dir] }
        }
        argv += ["--chdir", "/" + workingDirectory, "--clearenv"]
        for (name, value) in environment { argv += ["--setenv", name, value] }
        argv += ["--"] + arguments
        return argv
    }
}
