import ArgumentParser
import LocalCAS
import MountDaemon

/// `lazycas cas stats`: what the running mounts fetched.
struct CasStats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show what the running mounts fetched: blobs, bytes, hits, misses, errors."
    )

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let config = try global.loadConfig()
        let mounts = MountStatsFile.readAll(directory: global.resolvedCacheDir(config) + "/mounts")
        let profiles = ProfileStore(cacheRoot: global.resolvedCacheDir(config)).usage
        print("access profiles: \(profiles.profiles) kept, \(formatBytes(profiles.bytes))")
        var packs = 0, packedBlobs = 0, packedBytes: Int64 = 0
        try LocalContentStore(root: global.resolvedCacheDir(config)).forEachPack { _, bytes, _, digests in
            packs += 1
            packedBlobs += digests.count
            packedBytes += bytes
        }
        print("packed small blobs: \(packedBlobs) in \(packs) packs, \(formatBytes(packedBytes))")
        guard !mounts.isEmpty else {
            print("no running mounts")
            return
        }
        for m in mounts {
            print("\(m.mountpoint) (pid \(m.pid), root \(m.root)): reads \(m.reads), hits \(m.hits), misses \(m.misses), fetched \(m.blobsFetched) blobs \(formatBytes(m.bytesFetched)), errors \(m.errors)\(m.profile.map { $0.prefetchedBlobs > 0 ? "; \($0.summary)" : "; profile: recording" } ?? "")")
        }
    }
}
