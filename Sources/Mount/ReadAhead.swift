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
///   far was read. A walk that is followed runs ahead of the reader: when it reads the file
///   half-way through a walk batch (the **marker**, as the kernel's own read-ahead does), the
///   next batch is asked for from where the last one ended (``continuation(after:isLocal:listingOf:)``),
///   so a serial reader finds the files local instead of waiting for a round trip per batch.
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
    /// A walk guess stops after this many files in a row that are local or guessed already:
    /// it has run into another reader's guesses (parallel readers of one tree), which will go
    /// on from there themselves.
    static let walkSkipLimit = 128

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
        /// The walk blob half-way through the last walk batch, and where that batch ended: a
        /// read of the marker asks for the next batch from there.
        var marker: Digest?
        var resume: Position?

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
    /// above, innermost first, each with its digest and the name of the entry to continue after.
    struct Position: Sendable {
        var listing: DirectoryListing
        var parent: Digest
        var name: String
        var ancestors: [Ancestor]
    }
    struct Ancestor: Sendable {
        var listing: DirectoryListing
        var digest: Digest
        var after: String
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
        return pick(besides: digest, isLocal: isLocal) { take in
            if siblingsAllowed {
                for child in position.listing.children {
                    if case .file(let d, _) = child.node, !take(d, .sibling(parent: position.parent), nil) { break }
                }
            }
            if walkAllowed { walk(from: position, listingOf: listingOf, take: take) }
        }
    }

    /// The next walk batch, if `digest` (just read, local or on its way) is the marker of the
    /// last one and walking still pays off.
    func continuation(after digest: Digest, isLocal: (Digest) -> Bool,
                      listingOf: (Digest) -> DirectoryListing?) -> [Digest] {
        guard policy != .off else { return [] }
        let resume = state.withLock { s -> Position? in
            s.credit(digest)
            guard s.marker == digest, s.walk.worthIt else { return nil }
            s.marker = nil
            defer { s.resume = nil }
            return s.resume
        }
        guard let resume else { return [] }
        return pick(besides: digest, isLocal: isLocal) { take in
            walk(from: resume, listingOf: listingOf, take: take)
        }
    }

    /// The blobs `choose` takes (up to one batch, never `digest`, nothing local or already
    /// guessed), recorded as outstanding guesses; the walk's marker and resume point are set
    /// from the walk files taken.
    private func pick(besides digest: Digest, isLocal: (Digest) -> Bool,
                      _ choose: (_ take: (Digest, Guess, Position?) -> Bool) -> Void) -> [Digest] {
        withoutActuallyEscaping(isLocal) { isLocal in pick(besides: digest, escapingIsLocal: isLocal, choose) }
    }

    /// ``pick(besides:isLocal:_:)``'s body: `take` captures `isLocal` and is handed to `choose`,
    /// which Swift allows only for an escaping closure; callers keep a non-escaping one (no heap
    /// context per local read on the FUSE path), made escaping for this call only.
    private func pick(besides digest: Digest, escapingIsLocal isLocal: @escaping (Digest) -> Bool,
                      _ choose: (_ take: (Digest, Guess, Position?) -> Bool) -> Void) -> [Digest] {
        var picked: [Digest: Guess] = [:]
        var order: [Digest] = []
        var walked: [Digest] = []
        var lastWalked: Position?
        var bytes: Int64 = 0
        var skipped = 0
        func take(_ d: Digest, _ guess: Guess, _ at: Position?) -> Bool {
            guard picked.count < Self.batchFiles else { return false }
            guard d != digest, d.sizeBytes <= Self.smallFile, picked[d] == nil else { return true }
            guard bytes + d.sizeBytes <= Self.batchBytes else { return bytes < Self.batchBytes - 4096 }
            // Guessed before and not read yet: on its way or stored already. Guessing it again
            // would send it twice and hand its credit to the wrong guess (a walk that got ahead
            // of the reader would look useless and be switched off).
            guard !state.withLock({ $0.outstanding[d] != nil }), !isLocal(d) else {
                if guess == .walk { skipped += 1 }
                return guess != .walk || skipped < Self.walkSkipLimit
            }
            if guess == .walk { skipped = 0 }
            picked[d] = guess
            order.append(d)
            bytes += d.sizeBytes
            if guess == .walk {
                walked.append(d)
                lastWalked = at
            }
            return true
        }
        choose(take)
        state.withLock { s in
            if let lastWalked {
                s.marker = walked[walked.count / 2]
                s.resume = lastWalked
            }
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

    /// Offers the files that follow `position` in a depth-first walk (after it in its
    /// directory, then after each ancestor in turn) to `take`, each with its own position,
    /// until `take` declines or ``walkScanLimit`` entries were looked at.
    private func walk(from position: Position, listingOf: (Digest) -> DirectoryListing?,
                      take: (Digest, Guess, Position?) -> Bool) {
        var scanned = 0
        // `trail`: the directories above `listing`, innermost first (its position's ancestors).
        func visit(_ listing: DirectoryListing, _ digest: Digest, after name: String?, trail: [Ancestor]) -> Bool {
            for child in name.map(listing.children(after:)) ?? listing.children[...] {
                scanned += 1
                if scanned > Self.walkScanLimit { return false }
                switch child.node {
                case .file(let d, _):
                    let at = Position(listing: listing, parent: digest, name: child.name, ancestors: trail)
                    if !take(d, .walk, at) { return false }
                case .directory(let d):
                    guard let sub = listingOf(d) else { continue }
                    let down = [Ancestor(listing: listing, digest: digest, after: child.name)] + trail
                    if !visit(sub, d, after: nil, trail: down) { return false }
                case .symlink: continue
                }
            }
            return true
        }
        guard visit(position.listing, position.parent, after: position.name, trail: position.ancestors) else { return }
        for (i, ancestor) in position.ancestors.enumerated() {
            let above = Array(position.ancestors[(i + 1)...])
            if !visit(ancestor.listing, ancestor.digest, after: ancestor.after, trail: above) { break }
        }
    }
}
