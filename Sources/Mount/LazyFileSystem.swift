import FoundationEssentials
import Glibc
import LocalCAS
import Logging
import Synchronization

/// A read-only view of one tree of the partial local CAS as a filesystem of directories and
/// files, knowing nothing of FUSE (or of inode numbers: those are the front end's). Listings,
/// lookups and attributes come from local Directory nodes only and answer at once; a file's blob
/// comes from `content`, which fetches it on its first read (a ``ContentStore`` that caches in
/// the local CAS), so every later read is local.
///
/// Thread safety: all methods may be called concurrently from FUSE threads and tasks.
public final class LazyFileSystem: Sendable {
    public let root: Digest
    /// Where the Directory nodes are (and blobs, once fetched).
    public let store: LocalContentStore
    /// Where file content comes from: a read-through cache over a remote, or `store` itself for
    /// an offline mount (a blob that is not local is then EIO).
    public let content: any ContentStore
    public let stats: MountStats
    /// What this mount has fetched so far (blobs, bytes), from the counters of its remote side.
    private let fetchedSoFar: @Sendable () -> (blobs: Int, bytes: Int64)
    let listings: DirectoryListingCache
    /// Records what is read and prefetches what the last session of its kind read (nil: no
    /// profile, `--no-profile`).
    public let profile: ProfileSession?
    let readAhead: ReadAhead
    private let logger = Logger(label: "lazycas.mount")
    /// When each blob's failure was last logged: the kernel retries a failed page read, and
    /// many readers may hit one failure; the log says it once.
    private let lastLogged = Mutex<[Digest: ContinuousClock.Instant]>([:])
    /// A blob's repeated failures within this long are counted but not logged again.
    static let failureLogInterval: Duration = .seconds(10)

    /// - Parameters:
    ///   - fetched: reports what `content` has brought in from the remote for this mount.
    ///   - readAhead: how eagerly likely next files come along with a cold read (fewer round
    ///     trips, more bytes).
    ///   - profile: the session's access profile (recording, prefetch).
    public init(root: Digest, store: LocalContentStore, content: any ContentStore, stats: MountStats,
                readAhead: ReadAheadPolicy = .eager, profile: ProfileSession? = nil,
                fetched: @escaping @Sendable () -> (blobs: Int, bytes: Int64) = { (0, 0) }) {
        self.root = root
        self.store = store
        self.content = content
        self.stats = stats
        fetchedSoFar = fetched
        self.profile = profile
        listings = DirectoryListingCache(tree: LocalTree(store: store))
        self.readAhead = ReadAhead(policy: readAhead)
    }

    /// Makes Directory nodes known before they are in the store (a mount that just fetched
    /// them serves at once and stores them in the background).
    public func seed(_ directories: [Digest: ValidatedDirectory]) {
        listings.seed(directories.map { ($0.key, $0.value) })
    }

    /// What this mount has done.
    public var currentStats: MountStatsSnapshot {
        var s = stats.snapshot
        (s.blobsFetched, s.bytesFetched) = fetchedSoFar()
        s.profile = profile?.counts
        return s
    }

    // MARK: Metadata (local only, never blocks on the network)

    /// The entries of the Directory `directory`.
    public func listing(_ directory: Digest) throws(FileSystemError) -> DirectoryListing {
        do {
            return try listings.listing(directory)
        } catch {
            logger.error("cannot read Directory \(directory): \(error)")
            throw .io
        }
    }

    /// The entry `name` of the Directory `directory`.
    public func lookup(_ name: String, in directory: Digest) throws(FileSystemError) -> Node {
        guard let child = try listing(directory).child(named: name) else { throw .notFound }
        return child.node
    }

    public func attributes(of node: Node) throws(FileSystemError) -> NodeAttributes {
        switch node {
        case .directory(let digest):
            NodeAttributes(kind: .directory, permissions: 0o555, size: 4096,
                           linkCount: UInt32(2 + (try listing(digest).subdirectoryCount)))
        case .file(let digest, let executable):
            NodeAttributes(kind: .file, permissions: executable ? 0o555 : 0o444, size: digest.sizeBytes, linkCount: 1)
        case .symlink(let target):
            NodeAttributes(kind: .symlink, permissions: 0o777, size: Int64(target.utf8.count), linkCount: 1)
        }
    }

    public func readlink(_ node: Node) throws(FileSystemError) -> String {
        guard case .symlink(let target) = node else { throw .notSymlink }
        return target
    }

    /// The extended attribute every node but a symlink has.
    public static let digestAttribute = "user.reapi.digest"

    public func extendedAttribute(_ node: Node, name: String) throws(FileSystemError) -> String {
        guard name == Self.digestAttribute, let digest = node.digest else { throw .noAttribute }
        return digest.description
    }

    public func extendedAttributeNames(_ node: Node) -> [String] {
        node.digest == nil ? [] : [Self.digestAttribute]
    }

    // MARK: Content

    /// Serves `size` bytes at `offset` of the file whose blob is `digest`: at once when the
    /// blob is local (or the range of an arriving one is there), else once a fetch has brought
    /// it. The first read of a cold file is what fetches it: a small one with the cold small files
    /// ``ReadAhead`` expects to be read next, in one batch (the read is answered as soon as its
    /// own blob is stored); a large one as a stream whose ranges are served as they arrive.
    /// - Parameter location: where the file sits — its directory, and each above it, with the
    ///   name of the entry below (innermost first); asked for only on a cold read.
    public func read(_ digest: Digest, offset: Int64, size: Int,
                     location: @escaping @Sendable () -> [(directory: Digest, name: String)]) -> ReadOutcome {
        var available = content.available(digest)
        // A large file's stream starts here, on the FUSE thread, not a task switch later.
        let started = available == nil && digest.sizeBytes > ReadAhead.smallFile
        if started {
            content.prefetch(digest)
            available = content.available(digest)
        }
        if let blob = available {
            switch blob {
            case .arriving(let incoming):
                stats.update { $0.reads += 1; $0.misses += started ? 1 : 0 }
                return serve(incoming, offset: offset, size: size, location: location)
            default:
                stats.update { $0.reads += 1; $0.hits += 1 }
                continueWalk(after: digest)
                return .ready(FileData.answer(blob, offset: offset, size: size))
            }
        }
        let guessing = digest.sizeBytes <= ReadAhead.smallFile && profile?.plans(digest) != true
        let companions = guessing ? self.companions(of: digest, at: location()) : []
        let pending = PendingRead()
        let fs = self
        Task {
            await fs.content.get([digest] + companions) { got, result in
                guard got == digest else { return }
                switch result {
                case .success(.arriving(let incoming)):
                    fs.stats.update { $0.reads += 1; $0.misses += 1 }
                    do {
                        try await incoming.wait(offset: offset, count: Int64(size))
                        pending.fulfill(.success(.incoming(incoming)))
                    } catch {
                        fs.failed(digest, at: location(), error)
                        pending.fulfill(.failure(.io))
                    }
                case .success(let blob):
                    fs.stats.update { $0.reads += 1; $0.misses += 1 }
                    pending.fulfill(FileData.answer(blob, offset: offset, size: size))
                case .failure(let error):
                    fs.failed(digest, at: location(), error)
                    pending.fulfill(.failure(.io))
                }
            }
            // Never asked or never answered: the reader must not wait forever.
            pending.fulfill(.failure(.io))
        }
        return .pending(pending)
    }

    /// A blob that was being served could not be had (after some of its bytes were, for a
    /// stream that failed its final check): counted once per reader that saw it, logged once
    /// per ``failureLogInterval``.
    public func failed(_ digest: Digest, at location: [(directory: Digest, name: String)], _ error: any Error) {
        stats.update { $0.errors += 1 }
        let now = ContinuousClock.now
        let fresh = lastLogged.withLock { logged in
            if let last = logged[digest], now - last < Self.failureLogInterval { return false }
            if logged.count > 10_000 { logged.removeAll() }
            logged[digest] = now
            return true
        }
        if fresh {
            logger.error("\(path(location)): cannot fetch blob \(digest): \(error)")
        } else {
            logger.debug("\(path(location)): cannot fetch blob \(digest) (again): \(error)")
        }
    }

    /// A read of a blob that is arriving: answered now if its range is there, else once it is.
    private func serve(_ incoming: any IncomingBlob, offset: Int64, size: Int,
                       location: @escaping @Sendable () -> [(directory: Digest, name: String)]) -> ReadOutcome {
        do {
            if try incoming.hasArrived(offset: offset, count: Int64(size)) { return .ready(.success(.incoming(incoming))) }
        } catch {
            return .ready(.failure(.io))
        }
        let pending = PendingRead()
        Task { [self] in
            do {
                try await incoming.wait(offset: offset, count: Int64(size))
                pending.fulfill(.success(.incoming(incoming)))
            } catch {
                failed(incoming.digest, at: location(), error)
                pending.fulfill(.failure(.io))
            }
        }
        return .pending(pending)
    }

    /// A local read of the walk's marker asks for the walk's next batch, in the background.
    private func continueWalk(after digest: Digest) {
        let next = readAhead.continuation(after: digest, isLocal: { store.contains($0) }) { try? listings.listing($0) }
        guard !next.isEmpty else { return }
        let content = self.content
        Task { await content.get(next) { _, _ in } }
    }

    /// The cold small files to fetch with `digest`.
    private func companions(of digest: Digest, at location: [(directory: Digest, name: String)]) -> [Digest] {
        guard let here = location.first, let listing = try? listing(here.directory) else { return [] }
        var ancestors: [ReadAhead.Ancestor] = []
        for link in location.dropFirst() {
            guard let above = try? self.listing(link.directory) else { return [] }
            ancestors.append(ReadAhead.Ancestor(listing: above, digest: link.directory, after: link.name))
        }
        let position = ReadAhead.Position(listing: listing, parent: here.directory, name: here.name, ancestors: ancestors)
        return readAhead.companions(of: digest, at: position, isLocal: { store.contains($0) }) { try? listings.listing($0) }
    }

    /// `/a/b/file` from a location, for messages.
    func path(_ location: [(directory: Digest, name: String)]) -> String {
        "/" + Self.relativePath(location)
    }

    /// `a/b/file` from a location: the path below the root.
    static func relativePath(_ location: [(directory: Digest, name: String)]) -> String {
        location.reversed().map(\.name).joined(separator: "/")
    }
}

extension FileData {
    /// What a read of `size` bytes at `offset` is answered with, from a blob handed on whole.
    static func answer(_ blob: Blob, offset: Int64, size: Int) -> Result<FileData, FileSystemError> {
        switch blob {
        case .file(let file): .success(.file(file))
        case .arriving(let incoming): .success(.incoming(incoming))
        case .bytes(let data):
            .success(.bytes(data.subdata(in: Int(min(offset, Int64(data.count))) ..< Int(min(offset + Int64(size), Int64(data.count))))))
        case .path(let path):
            (try? OpenFile(opening: path)).map { .success(.file($0)) } ?? .failure(.io)
        case .ranges:
            .failure(.io)
        }
    }
}
