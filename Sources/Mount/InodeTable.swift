import LocalCAS
import Logging
import Synchronization

/// The FUSE front end's inode numbers for the entries of a mounted tree, with the kernel's
/// lookup counts (the filesystem model knows nothing of either).
///
/// Numbers are stable while the kernel holds a reference: the same (parent, name) gives the
/// same inode until every lookup of it has been forgotten (`forget`/`forget_multi`), after which
/// the entry is dropped and memory tracks only what the kernel still knows. The root is
/// inode 1 and is never dropped.
///
/// Thread safety: every method takes the one lock; no other lock is taken while holding it.
public final class InodeTable: Sendable {
    public static let rootInode: UInt64 = 1

    struct Entry {
        var node: Node
        var parent: UInt64
        var name: String
        var lookups: UInt64
    }
    struct ChildKey: Hashable {
        var parent: UInt64
        var name: String
    }
    struct State {
        // INVARIANT: byName[(e.parent, e.name)] == ino for every entries[ino] except the root.
        var entries: [UInt64: Entry] = [:]
        var byName: [ChildKey: UInt64] = [:]
        var next: UInt64 = 2
    }

    private let state: Mutex<State>
    private let logger = Logger(label: "lazycas.mount.inodes")

    public init(root: Digest) {
        var s = State()
        s.entries[Self.rootInode] = Entry(node: .directory(root), parent: Self.rootInode, name: "", lookups: 1)
        state = Mutex(s)
    }

    /// The node behind `inode`, or nil if the kernel has forgotten it (or never knew it).
    public func node(_ inode: UInt64) -> Node? {
        state.withLock { $0.entries[inode]?.node }
    }

    /// The parent of `inode` (the root is its own parent).
    public func parent(_ inode: UInt64) -> UInt64? {
        state.withLock { $0.entries[inode]?.parent }
    }

    /// The inode for child `name` of `parent`, created if new, with its lookup count raised by
    /// one (the kernel now holds a reference).
    public func lookup(parent: UInt64, name: String, node: Node) -> UInt64 {
        state.withLock { s in
            let key = ChildKey(parent: parent, name: name)
            if let ino = s.byName[key] {
                s.entries[ino]!.lookups += 1
                return ino
            }
            let ino = s.next
            s.next += 1
            s.entries[ino] = Entry(node: node, parent: parent, name: name, lookups: 1)
            s.byName[key] = ino
            return ino
        }
    }

    /// The inode of child `name` if it is known, without touching lookup counts.
    public func existing(parent: UInt64, name: String) -> UInt64? {
        state.withLock { $0.byName[ChildKey(parent: parent, name: name)] }
    }

    /// Drops `count` kernel references to `inode`; the entry goes when none remain.
    public func forget(_ inode: UInt64, count: UInt64) {
        guard inode != Self.rootInode else { return }
        let underflow = state.withLock { s -> Bool in
            guard var entry = s.entries[inode] else { return true }
            if entry.lookups < count {
                entry.lookups = 0
            } else {
                entry.lookups -= count
            }
            if entry.lookups == 0 {
                s.entries[inode] = nil
                s.byName[ChildKey(parent: entry.parent, name: entry.name)] = nil
                return false
            }
            s.entries[inode] = entry
            return false
        }
        if underflow { logger.error("forget of unknown inode \(inode) (count \(count)): lookup counts are off") }
    }

    /// Where `inode` sits: the Directory above it, and each above that, innermost first, each
    /// with the name of the entry below it on the way down: `[(parent, name of inode),
    /// (grandparent, name of parent), …]`.
    public func location(_ inode: UInt64) -> [(directory: Digest, name: String)] {
        state.withLock { s in
            var chain: [(directory: Digest, name: String)] = []
            var current = inode
            while current != Self.rootInode, let entry = s.entries[current], chain.count < 4096,
                  case .directory(let parent)? = s.entries[entry.parent]?.node {
                chain.append((parent, entry.name))
                current = entry.parent
            }
            return chain
        }
    }

    /// Number of inodes the kernel holds (for tests and stats).
    public var count: Int { state.withLock { $0.entries.count } }
}
