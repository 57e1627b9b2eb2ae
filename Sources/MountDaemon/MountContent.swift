import LocalCAS
import RemoteCAS

/// Where a mount's (or shell's) file content comes from: reads through the local cache from the
/// remote, counted for this mount alone, or — with no remote — the local cache itself.
public enum MountContent {
    public static func make(store: LocalContentStore, remote: OpenRemote?)
        -> (content: any ContentStore, fetched: @Sendable () -> (blobs: Int, bytes: Int64)) {
        guard let remote else { return (store, { (0, 0) }) }
        let metrics = Metrics()
        let content = ReadCachingContentStore(fast: store, slow: MetricsContentStore(base: remote.remoteContent, metrics: metrics))
        return (content, {
            let s = metrics.snapshot
            return (s.blobsReceived, s.bytesReceived)
        })
    }
}
