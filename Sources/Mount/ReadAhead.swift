import LocalCAS
import Synchronization

/// Decides which other cold small files ride along when a small file is fetched, so that a
/// walk over a tree costs one round trip per batch instead of one per file.
///
/// Two guesses, each adaptive:
/// - **siblings**: reading one file of a directory often means reading its neighbours (a
///   compiler walking headers, `grep -r`). Per directory, siblings keep being sent while at
///   least a quarter of those already sent were read afterwards — and a directory without a
///   hit of its own gets a first guess only while a quarter of all sibling guesses hit, or
///   once an eighth of its entries (at least ``siblingEvidence``) were cold reads, so scattered
///   reads over many directories (a test reading a few files here and there) do not pull in
///   every directory they touch.
/// - **what comes next in a walk**: `find | xargs cat`, `cp -r`, `tar` read files in directory
///   order, depth first. The files that follow the one being read in that order (across
///   directory boundaries) are sent too, while at least a quarter of what this guess sent so
///   far was read.
///
/// Both fill one batch of at most ``batchBytes``; the local Directory nodes are the only input,
/// so guessing costs no network. Directories are told apart by digest (identical directories
/// share their score).
final class ReadAhead: Sendable {
    /// Files larger than this are never batched with others.
    static let smallFile: Int64 = 256 * 1024
    /// At most this many extra bytes ride along with one fetch.
    static let batchBytes: Int64 = 2 << 20
    /// At most this many extra files ride along with one fetch.
    static let batchFiles = 256
    /// Cold reads in one directory that earn it a sibling guess even when sibling guesses
    /// elsewhere have been missing: an eighth of its entries, and at least this many.
    static let siblingEvidence = 4
    /// How many entries one walk guess may look at.
    static let walkScanLimit = 4096

    struct Score {
        var sent = 0
        var used = 0
        /// Keep guessing until there is evidence, then only while a quarter of guesses hit.
        var worthIt: Bool { sent < 32 || used * 4 >= sent }
    }
    enum Guess: Hashable {
        case sibling(parent: Digest)
        case walk
    }
    struct State {
        var directories: [Digest: Score] = [:]
        /// All sibling guesses, over every directory.
        var siblings = Score()
        var walk = Score()
        /// Blobs sent on a guess and not read yet, with the guess that sent them.
        var outstanding: [Digest: Guess] = [:]
        /// Cold reads so far, per directory and in all (the evidence ``ReadAheadPolicy/cautious`` waits for).
        var coldReads: [Digest: Int] = [:]
        var totalColdReads = 0

        /// `digest` was read: if a guess had sent it (whether or not it has arrived yet), that
        /// guess scored.
        mutating func credit(_ digest: Digest) {
            switch outstanding.removeValue(forKey: digest) {
            case .sibling(let parent)?:
                directories[parent, default: Score()].used += 1
                siblings.used += 1
            case .walk?: walk.used += 1
            case nil: break
            }
        }
    }
    private let state = Mutex(State())
    let policy: ReadAheadPolicy

    init(policy: ReadAheadPolicy = .eager) {
        self.policy = policy
    }

    /// Where a file sits: its directory's listing and digest, its name, and the directories
    /// above, innermost first, each with the name of the entry to continue after.
    struct Position {
        var listing: DirectoryListing
        var parent: Digest
        var name: String
        var ancestors: [(listing: DirectoryListing, after: String)]
    }

    /// Cold small files to fetch alongside `digest` at `position`.
    /// - Parameters:
    ///   - isLocal: whether a blob is already in the local CAS (a cheap check).
    ///   - listingOf: the listing of a Directory digest (local, cached).
    func companions(of digest: Digest, at position: Position, isLocal: (Digest) -> Bool,
                    listingOf: (Digest) -> DirectoryListing?) -> [Digest] {
        guard policy != .off, digest.sizeBytes <= Self.smallFile else { return [] }
        let cautious = policy == .cautious
        let (siblingsAllowed, walkAllowed) = state.withLock { s in
            // A read that catches a guessed blob still on its way is a hit of that guess too.
            s.credit(digest)
            let here = s.coldReads[position.parent, default: 0]
            s.coldReads[position.parent] = here + 1
            s.totalColdReads += 1
            let directory = s.directories[position.parent] ?? Score()
            return (directory.worthIt && (directory.used > 0 || s.siblings.worthIt || here + 1 >= max(Self.siblingEvidence, position.listing.children.count / 8)) && (!cautious || here >= 1),
                    s.walk.worthIt && (!cautious || s.totalColdReads >= 2))
        }
        var picked: [Digest: Guess] = [:]
        var order: [Digest] = []
        var bytes: Int64 = 0
        func take(_ d: Digest, _ guess: Guess) -> Bool {
            guard picked.count < Self.batchFiles else { return false }
            guard d != digest, d.sizeBytes <= Self.smallFile, picked[d] == nil else { return true }
            guard bytes + d.sizeBytes <= Self.batchBytes else { return bytes < Self.batchBytes - 4096 }
            // Guessed before and not read yet: on its way or stored already. Guessing it again
            // would send it twice and hand its credit to the wrong guess (a walk that got ahead
            // of the reader would look useless and be switched off).
            guard !state.withLock({ $0.outstanding[d] != nil }), !isLocal(d) else { return true }
            picked[d] = guess
            order.append(d)
            bytes += d.sizeBytes
            return true
        }
        if siblingsAllowed {
            for child in position.listing.children {
                if case .file(let d, _) = child.node, !take(d, .sibling(parent: position.parent)) { break }
            }
        }
        if walkAllowed {
            var scanned = 0
            // Depth first from just after the file, then after each ancestor in turn.
            func visit(_ listing: DirectoryListing, after name: String?) -> Bool {
                for child in name.map(listing.children(after:)) ?? listing.children[...] {
                    scanned += 1
                    if scanned > Self.walkScanLimit { return false }
                    switch child.node {
                    case .file(let d, _): if !take(d, .walk) { return false }
                    case .directory(let d): if let sub = listingOf(d), !visit(sub, after: nil) { return false }
                    case .symlink: continue
                    }
                }
                return true
            }
            if visit(position.listing, after: position.name) {
                for ancestor in position.ancestors where !visit(ancestor.listing, after: ancestor.after) { break }
            }
        }
        state.withLock { s in
            for (d, guess) in picked {
                s.outstanding[d] = guess
                switch guess {
                case .sibling(let parent):
                    s.directories[parent, default: Score()].sent += 1
                    s.siblings.sent += 1
                case .walk: s.walk.sent += 1
                }
            }
            // Bound memory: guesses nobody read are forgotten (they already count as misses).
            if s.outstanding.count > 100_000 { s.outstanding.removeAll() }
        }
        return order
    }

    /// A read found `digest` local: if a guess had sent it, that guess scored.
    func recordLocalRead(_ digest: Digest) {
        state.withLock { $0.credit(digest) }
    }
}
