import ArgumentParser
import Driver
import Glibc
import LocalCAS
import MountDaemon
import RemoteCAS
import Synchronization

/// `lazycas heal-server` (hidden): heals, for a mount daemon, the blobs its remote lost
/// (``ArtifactHealer``), which needs the build driver the daemon does not link. The daemon
/// starts it at the first lost blob with its ``MountSpec`` in the environment and writes one
/// `HASH/SIZE` line per blob; each is answered `HASH/SIZE ok` or `HASH/SIZE CODE MESSAGE`
/// (``HealerProcess``). It ends with its input.
struct HealServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heal-server",
        abstract: "Heal the blobs a mount's remote lost (started by lazycas-mount; reads HASH/SIZE lines).",
        shouldDisplay: false
    )

    /// The command line that starts one: this executable.
    static func command() throws(CASError) -> [String] {
        guard let executable = CompanionExecutable.current else {
            throw CASError(.io, "cannot tell where lazycas is installed (/proc/self/exe)")
        }
        return [executable, "heal-server"]
    }

    func run() async throws {
        let spec = try MountSpec.takeFromEnvironment()
        guard let configuration = spec.remote else {
            throw CASError(.invalidArgument, "the mount has no remote: nothing to heal")
        }
        let store = try LocalContentStore(root: spec.cacheDirectory)
        let healer = try ArtifactHealer(store: store, cas: try RemoteConnection(configuration),
                                        preferring: try Digest(parsing: spec.root)) { url, instance throws(CASError) in
            var other = configuration
            other.endpoint = try RemoteEndpoint(parsing: url)
            other.instance = instance
            return try RemoteConnection(other)
        }
        let output = Mutex(())
        let reply = { @Sendable (line: String) in
            output.withLock { _ in _ = FileDescriptorIO.writeLine(line, to: STDOUT_FILENO) }
        }
        await withTaskGroup(of: Void.self) { group in
            for await line in FileDescriptorIO.lines(of: STDIN_FILENO) {
                guard let digest = try? Digest(parsing: line) else {
                    reply("\(line) invalidArgument not a digest")
                    continue
                }
                group.addTask {
                    do throws(CASError) {
                        try await healer.heal(digest, lost: CASError(.notFound, "\(digest) is missing on the remote"))
                        reply("\(digest) ok")
                    } catch {
                        let message = error.description.split(whereSeparator: \.isNewline).joined(separator: " ")
                        reply("\(digest) \(error.code.rawValue) \(message)")
                    }
                }
            }
        }
        await healer.close()
    }
}
