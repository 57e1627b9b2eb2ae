import Dispatch
import FoundationEssentials
import Glibc
import LocalCAS

/// A tree as a sandbox root: lazycas's FUSE mount of it (in this process) under a kernel
/// overlayfs writable layer (``OverlayMount``), torn down by ``close()`` whatever happened.
/// Reads fetch blobs on demand; writes land in the overlay's upper layer and never in the CAS.
public final class WritableLazyRoot: Sendable {
    public let overlay: OverlayMount
    /// The tree the FUSE mount shows: `root` with the sandbox's mountpoints added. Capture the
    /// overlay against this (``OverlayCapture``).
    public let lower: Digest
    private let mount: FuseMount
    private let fs: LazyFileSystem
    private let directory: String
    private let served: Task<Void, Never>

    /// Mounts `root` (with empty `dev`, `proc` and `tmp` added where it has none, for bwrap to
    /// mount over) and the overlay on it, in the scratch `directory` (replaced if it exists).
    /// - Parameters:
    ///   - content: where file blobs come from (``LazyFileSystem/content``).
    ///   - seed: Directory nodes not yet in `store`, served from memory.
    ///   - readAhead: how eagerly cold reads bring likely next files along (``ReadAheadPolicy``).
    ///   - profile: records what is read, prefetches what the last session read (``ProfileSession``).
    ///   - fetched: what `content` has fetched for this root so far (``LazyFileSystem``).
    public init(root: Digest, in directory: String, store: LocalContentStore, content: any ContentStore,
                seed: [Digest: ValidatedDirectory], readAhead: ReadAheadPolicy = .eager, profile: ProfileSession? = nil,
                fetched: @escaping @Sendable () -> (blobs: Int, bytes: Int64) = { (0, 0) }) throws {
        self.directory = directory
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory + "/lower", withIntermediateDirectories: true)
        let composer = TreeComposer(store: store)
        let empty = try store.put(Data())
        let top = try LocalTree(store: store).directory(root)
        let present = Set(top.files.map(\.name.name) + top.directories.map(\.name.name) + top.symlinks.map(\.name.name))
        var layers: [TreeComposer.Layer] = []
        for name in ["dev", "proc", "tmp"] where !present.contains(name) {
            layers.append(TreeComposer.Layer(root: try composer.place(empty, at: name), label: "the sandbox's /\(name)"))
        }
        let lower = try composer.overlay(layers + [TreeComposer.Layer(root: root, label: "the tree")])
        self.lower = lower
        fs = LazyFileSystem(root: lower, store: store, content: content,
                            stats: MountStats(mountpoint: directory + "/lower", root: lower.description),
                            readAhead: readAhead, profile: profile, fetched: fetched)
        fs.seed(seed)
        let mount: FuseMount
        do {
            mount = try FuseMount(fs: fs, mountpoint: directory + "/lower")
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        self.mount = mount
        served = Task { await mount.serve() }
        do {
            overlay = try OverlayMount(lower: directory + "/lower", in: directory)
        } catch {
            mount.unmount()
            let served = self.served
            // Wait for the loop to end before removing its mountpoint (init cannot await).
            let done = DispatchSemaphore(value: 0)
            Task { await served.value; done.signal() }
            done.wait()
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    /// Starts fetching what the profile's paths are in this tree (``ProfileSession/prefetch(_:)``),
    /// if there is a profile; cancel the task to stop it.
    public func startPrefetch() -> Task<Void, Never>? {
        guard let profile = fs.profile else { return nil }
        let fs = self.fs
        return Task { await profile.prefetch(fs) }
    }

    /// Unmounts the overlay and the tree, removes the writable layer, and returns what the
    /// mount fetched.
    @discardableResult
    public func close() async -> MountStatsSnapshot {
        overlay.unmount()
        mount.unmount()
        await served.value
        try? FileManager.default.removeItem(atPath: directory)
        return fs.currentStats
    }
}
