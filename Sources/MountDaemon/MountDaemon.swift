import FoundationEssentials
import Glibc
import LocalCAS
import Mount
import RemoteCAS
import Synchronization

/// Serves one mount until it is unmounted or signalled: the body of the mount daemon,
/// `lazycas-mount`, which `lazycas mount` starts with a resolved ``MountSpec``.
///
/// A process of its own, linked with what serving needs and no more (no build driver, no
/// server, no YAML, no Foundation beyond FoundationEssentials): a mount lives for hours, and
/// every page of code and library it maps stays resident.
public enum MountDaemon {
    public static func serve(_ spec: MountSpec) async throws -> Never {
        if spec.detached { setsid() }
        let root = try Digest(parsing: spec.root)
        let store = try LocalContentStore(root: spec.cacheDirectory)
        let remote = try open(spec, store: store)
        let stats = MountStats(mountpoint: spec.mountpoint, root: spec.root)
        let (content, fetched) = MountContent.make(store: store, remote: remote)
        let profiles = ProfileStore(cacheRoot: store.root)
        let session = spec.profileKey.map { ProfileSession(previous: profiles.load($0), budget: spec.profileBudget) }
        let fs = LazyFileSystem(root: root, store: store, content: content, stats: stats,
                                readAhead: spec.readAhead, profile: session, fetched: fetched)
        // Missing Directory nodes: fetched into memory, so the tree is listable after one
        // GetTree; they are written to the local CAS in the background while it is served.
        var storing: Task<Void, Never>?
        if let remote {
            let treeFetcher = remote.trees
            let nodes = try await treeFetcher.fetchMissingNodes(root)  // [:] when all are local
            fs.seed(nodes.mapValues(\.directory))
            if !nodes.isEmpty { note("fetched \(nodes.count) Directory nodes") }
            // On a thread of its own: thousands of file writes must not hold a cooperative
            // thread while reads need them.
            storing = nodes.isEmpty ? nil : Task {
                do { try await BlockingWork.run { try treeFetcher.store(nodes) } } catch {
                    note("cannot store the Directory nodes of \(root): \(error)")
                }
            }
        }
        let persisting = storing
        // Set before mounting, so no signal can leave a stale mount behind.
        let slot = Mutex<FuseMount?>(nil)
        let signals = SignalTrap([SIGINT, SIGTERM, SIGHUP]) { _ in slot.withLock { $0 }?.unmount() }
        let mount = try FuseMount(fs: fs, mountpoint: spec.mountpoint, allowOther: spec.allowOther)
        slot.withLock { $0 = mount }
        let statsFile = MountStatsFile(directory: store.root + "/mounts", fs: fs)
        let reporter = Task { await statsFile.keepWriting() }
        if let remote {
            // Connect now (and learn the batch limit), so the first cold read pays one round
            // trip, not a connection setup too.
            Task { _ = try? await remote.connection?.cas.batchLimit() }
        }
        let profiled = remote == nil ? nil : session.map { session in Task { await session.prefetch(fs) } }
        let prefetching = spec.prefetch ? Task {
            await persisting?.value  // prefetch walks the tree in the store
            await prefetchAll(root: root, store: store, content: content)
        } : nil
        await mount.serve()
        signals.release()
        prefetching?.cancel()
        profiled?.cancel()
        if let session, let key = spec.profileKey {
            do { try session.keep(as: key, in: profiles) } catch {
                note("cannot keep the access profile of \(key): \(error)")
            }
        }
        reporter.cancel()
        await persisting?.value
        statsFile.remove()
        await remote?.healer?.close()
        // The tree is unmounted. Fetches still in flight (a slow remote) have no reader left;
        // do not wait out their deadlines. The CAS stays consistent: a blob being written is
        // only a temp file until verified and renamed.
        exit(0)
    }

    /// The remote and nearby stores of `spec`, open (nil when there are none).
    static func open(_ spec: MountSpec, store: LocalContentStore) throws(CASError) -> OpenRemote? {
        let nearby = try spec.nearby.map { path throws(CASError) in try LocalContentStore(readingFrom: path) }
        guard spec.remote != nil || nearby != nil else { return nil }
        let connection = try spec.remote.map { c throws(CASError) in try RemoteConnection(c) }
        let healer = connection == nil ? nil : spec.healer.map { HealerProcess(command: $0, spec: spec) }
        return OpenRemote(connection: connection, store: store, healer: healer, nearby: nearby)
    }

    /// Fetches every missing file blob of the tree, largest first.
    public static func prefetchAll(root: Digest, store: LocalContentStore, content: any ContentStore) async {
        guard let files = try? LocalTree(store: store).digests(under: root).files else { return }
        try? await content.fetchAll(store.missing(files.sorted { $0.sizeBytes > $1.sizeBytes }))
    }

    /// A line for the user on stderr (the terminal in the foreground, the mount's log otherwise).
    public static func note(_ text: String) {
        FileDescriptorIO.writeLine(text, to: STDERR_FILENO)
    }
}
