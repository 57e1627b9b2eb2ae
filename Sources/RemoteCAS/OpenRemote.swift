import LocalCAS

/// Where one command reads the blobs it lacks, open: the configured remote's connection, with
/// a nearby store (BuildStream's local CAS) in front of it or instead of it, and reads of them
/// that land in the local cache.
public struct OpenRemote: Sendable {
    public let connection: RemoteConnection?
    /// Re-creates what the remote lost, unless `--no-heal`.
    public let healer: (any BlobHealer)?
    /// Where missing blobs are read: the nearby store, then ``connection``'s store, healed.
    public let remoteContent: any ContentStore
    /// Reads through the local cache (``ReadCachingContentStore``).
    public let content: ReadCachingContentStore
    /// What ``connection`` sent and received.
    public let metrics: Metrics

    /// - Precondition: a connection or a nearby store.
    public init(connection: RemoteConnection?, store: LocalContentStore, healer: (any BlobHealer)?, nearby: LocalContentStore? = nil) {
        self.connection = connection
        self.healer = healer
        let remote = connection.map { c in healer.map { HealingContentStore(base: c.store, healer: $0) } ?? c.store }
        switch (nearby, remote) {
        case (let nearby?, let remote?): remoteContent = FallbackContentStore(first: nearby, then: remote)
        case (let nearby?, nil): remoteContent = nearby
        case (nil, let remote?): remoteContent = remote
        case (nil, nil): preconditionFailure("OpenRemote needs a connection or a nearby store")
        }
        content = ReadCachingContentStore(fast: store, slow: remoteContent)
        metrics = connection?.metrics ?? Metrics()
    }

    /// Brings Directory nodes into the local cache.
    public var trees: TreeFetcher { TreeFetcher(store: content.fast, through: content, server: connection?.cas) }
}
