import Foundation
import LocalCAS

/// Everything `lazycas serve` keeps on disk under one directory: the CAS (the same layout as a
/// client's cache, `objects/` and `tmp/`), action results (`ac/`) and asset names (`assets/`),
/// with an optional size limit on the CAS (least recently used blobs are evicted).
public final class ServerStorage: Sendable {
    public let root: String
    public let cas: LocalContentStore
    /// Nil when the CAS may grow without limit.
    public let quota: StoreQuota?
    let actionCache: KeyValueFiles
    let assets: KeyValueFiles

    /// How long the blobs of a new result are kept from eviction: the client that asked for it
    /// is about to fetch them.
    static let freshResult = Duration.seconds(3600)

    /// - Parameter maxBytes: the CAS size limit (`--max-size`); nil for none.
    public init(root: String, maxBytes: Int64? = nil) throws(CASError) {
        self.root = root
        let cas = try LocalContentStore(root: root)
        self.cas = cas
        quota = maxBytes.map { StoreQuota(store: cas, maxBytes: $0) }
        actionCache = try KeyValueFiles(directory: root + "/ac")
        assets = try KeyValueFiles(directory: root + "/assets")
    }

    /// The CAS as the CAS and ByteStream services read and write it.
    var content: any ContentStore { cas }

    /// Blobs were read or found: they are recently used.
    func used(_ digests: some Sequence<Digest>) {
        quota?.touch(digests)
    }

    /// `bytes` of new blobs were stored.
    func stored(_ bytes: Int64) {
        quota?.added(bytes)
    }
}
