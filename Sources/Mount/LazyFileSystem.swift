import Foundation
import Glibc
import LocalCAS
import Logging
import RemoteCAS
import Synchronization

/// A read-only view of one tree in the partial local CAS, as a filesystem: inodes, lookups,
/// listings and attributes come from local Directory nodes only; a file's blob is fetched on
/// its first read and then served from the local CAS. Knows nothing of FUSE.
///
/// Thread safety: all methods may be called concurrently from FUSE threads and tasks.
public final class LazyFileSystem: Sendable {
    public let root: Digest
    public let store: LocalContentStore
    /// Fetches missing blobs; nil for an offline mount (reads of missing blobs fail with EIO).
    public let fetcher: BlobFetcher?
    public let inodes: InodeTable
    public let stats: MountStats
    let listings: DirectoryListingCache
    let readAhead: ReadAhead
    private let logger = Logger(label: "lazycas.mount")

    /// - Parameter readAhead: how eagerly likely next files come along with a cold read (fewer
    ///   round trips, more bytes).
    public init(root: Digest, store: LocalContentStore, fetcher: BlobFetcher?, stats: MountStats, readAhead: ReadAheadPolicy = .eager) {
        self.root = root
        self.store = store
        self.fetcher = fetcher
        self.stats = stats
        inodes = InodeTable(root: root)
        listings = DirectoryListingCache(tree: LocalTree(store: store))
        self.readAhead = ReadAhead(policy: readAhead)
    }

    /// Makes Directory nodes known before they are in the store (a mount that just fetched
    /// them serves at once and stores them in the background).
    public func seed(_ directories: [Digest: ValidatedDirectory]) {
        listings.seed(directories.map { ($0.key, $0.value) })
    }

    /// What this mount has done; blobs and bytes fetched are what its connection received.
    public var currentStats: MountStatsSnapshot {
        var s = stats.snapshot
        if let received = fetcher?.client.connection.counters.snapshot {
            s.blobsFetched = received.blobsReceived
            s.bytesFetched = received.bytesReceived
        }
        return s
    }

    // MARK: Metadata (local only, never blocks on the network)

    func node(_ inode: UInt64) throws(FileSystemError) -> Node {
        guard let node = inodes.node(inode) else { throw .notFound }
        return node
    }

    func listing(_ inode: UInt64) throws(FileSystemError) -> DirectoryListing {
        guard case .directory(let digest) = try node(inode) else { throw .notDirectory }
        do {
            return try listings.listing(digest)
        } catch {
            logger.error("cannot read Directory \(digest) of inode \(inode): \(error)")
            throw .io
        }
    }

    /// Looks up `name` in directory `parent`; the returned inode carries one kernel reference.
    public func lookup(parent: UInt64, name: String) throws(FileSystemError) -> NodeAttributes {
        guard let child = try listing(parent).child(named: name) else { throw .notFound }
        let inode = inodes.lookup(parent: parent, name: name, node: child.node)
        return try attributes(inode, child.node)
    }

    public func attributes(_ inode: UInt64) throws(FileSystemError) -> NodeAttributes {
        try attributes(inode, try node(inode))
    }

    func attributes(_ inode: UInt64, _ node: Node) throws(FileSystemError) -> NodeAttributes {
        switch node {
        case .directory:
            let subdirs = try listing(inode).subdirectoryCount
            return NodeAttributes(inode: inode, kind: .directory, permissions: 0o555, size: 4096,
                                  linkCount: UInt32(2 + subdirs))
        case .file(let digest, let executable):
            return NodeAttributes(inode: inode, kind: .file, permissions: executable ? 0o555 : 0o444,
                                  size: digest.sizeBytes, linkCount: 1)
        case .symlink(let target):
            return NodeAttributes(inode: inode, kind: .symlink, permissions: 0o777,
                                  size: Int64(target.utf8.count), linkCount: 1)
        }
    }

    public func readlink(_ inode: UInt64) throws(FileSystemError) -> String {
        guard case .symlink(let target) = try node(inode) else { throw .notSymlink }
        return target
    }

    /// The extended attributes every node has.
    public static let digestAttribute = "user.reapi.digest"

    public func extendedAttribute(_ inode: UInt64, name: String) throws(FileSystemError) -> String {
        guard name == Self.digestAttribute, let digest = try node(inode).digest else { throw .noAttribute }
        return digest.description
    }

    public func extendedAttributeNames(_ inode: UInt64) throws(FileSystemError) -> [String] {
        try node(inode).digest == nil ? [] : [Self.digestAttribute]
    }

    // MARK: Content

    /// Opens the local blob of a file if it is present: the fast path, no network.
    /// - Returns: a file descriptor the caller closes, or nil if the blob must be fetched first.
    public func openLocal(_ inode: UInt64) throws(FileSystemError) -> Int32? {
        guard case .file(let digest, _) = try node(inode) else { throw .isDirectory }
        guard let fd = try? store.openForReading(digest) else { return nil }
        stats.update { $0.reads += 1; $0.hits += 1 }
        readAhead.recordLocalRead(digest)
        return fd
    }

    /// Files at least this large are served while they stream in (``openStreaming(_:)``);
    /// smaller ones are fetched whole before the read is answered.
    public static let streamingThreshold: Int64 = 1 << 20

    /// For a large file whose blob is not local: the stream bringing it in (the running one, or
    /// a new one), readable as it arrives, so the first bytes are served about one round trip
    /// after the first read.
    /// - Returns: nil when the file should be read through ``openFetching(_:)`` instead (it is
    ///   small, offline, or already coming in a batch).
    public func openStreaming(_ inode: UInt64) throws(FileSystemError) -> BlobStream? {
        guard case .file(let digest, _) = try node(inode), digest.sizeBytes >= Self.streamingThreshold,
              let fetcher else { return nil }
        let found: (stream: BlobStream, started: Bool)?
        do {
            found = try fetcher.stream(digest)
        } catch {
            logger.error("\(inodes.path(inode)): cannot start fetching blob \(digest): \(error)")
            stats.update { $0.errors += 1 }
            throw .io
        }
        guard let found else { return nil }
        stats.update { $0.reads += 1; $0.misses += found.started ? 1 : 0 }
        if found.started {
            let path = inodes.path(inode)
            Task { [stats, logger] in
                do {
                    try await found.stream.complete()
                } catch {
                    logger.error("\(path): cannot fetch blob \(digest): \(error)")
                    stats.update { $0.errors += 1 }
                }
            }
        }
        return found.stream
    }

    /// Where `inode` sits in the tree, for ``ReadAhead``; nil if a listing cannot be read.
    private func position(of inode: UInt64) -> ReadAhead.Position? {
        let chain = inodes.ancestry(inode)
        guard let first = chain.first, let listing = try? listing(first.directory) else { return nil }
        var ancestors: [(listing: DirectoryListing, after: String)] = []
        for link in chain.dropFirst() {
            guard let above = try? self.listing(link.directory) else { return nil }
            ancestors.append((above, link.name))
        }
        return ReadAhead.Position(listing: listing, parent: first.directory, name: first.name, ancestors: ancestors)
    }

    /// Fetches the blob of a file (with the cold small files ``ReadAhead`` expects to be read
    /// next, in the same batch), verifies and stores it, and opens it for the read.
    public func openFetching(_ inode: UInt64) async throws(FileSystemError) -> Int32 {
        guard case .file(let digest, _) = try node(inode) else { throw .isDirectory }
        guard let fetcher else {
            logger.error("\(inodes.path(inode)): blob \(digest) is not local and the mount has no remote")
            stats.update { $0.errors += 1 }
            throw .io
        }
        var companions: [Digest] = []
        if let position = position(of: inode) {
            companions = readAhead.companions(of: digest, at: position, store: store) { try? listings.listing($0) }
        }
        do {
            try await fetcher.fetch([digest], alongWith: companions)
        } catch {
            logger.error("\(inodes.path(inode)): cannot fetch blob \(digest): \(error)")
            stats.update { $0.errors += 1 }
            throw .io
        }
        stats.update { $0.reads += 1; $0.misses += 1 }
        guard let fd = try? store.openForReading(digest) else { throw .io }
        return fd
    }
}
