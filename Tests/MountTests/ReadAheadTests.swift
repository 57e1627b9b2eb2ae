import Foundation
import LocalCAS
@testable import Mount
import REAPI
import Testing

/// The read-ahead guesses alone, without FUSE: what a cold read brings along.
@Suite struct ReadAheadTests {
    /// A root of `directories` directories (`d000`…) of `perDirectory` files of ~10 KiB each,
    /// with distinct digests; the listings by digest and the files in walk order with their
    /// place.
    static func tree(directories: Int, perDirectory: Int) throws
        -> (listings: [Digest: DirectoryListing], root: Digest, files: [(digest: Digest, parent: Digest, name: String, directory: String)]) {
        var listings: [Digest: DirectoryListing] = [:]
        var files: [(digest: Digest, parent: Digest, name: String, directory: String)] = []
        var root = Build_Bazel_Remote_Execution_V2_Directory()
        for d in 0..<directories {
            var message = Build_Bazel_Remote_Execution_V2_Directory()
            var here: [(Digest, String)] = []
            for f in 0..<perDirectory {
                let data = Data(repeating: UInt8(truncatingIfNeeded: f), count: 10_000 + d * perDirectory + f)
                var node = Build_Bazel_Remote_Execution_V2_FileNode()
                node.name = String(format: "f%03d", f)
                node.digest = Digest(data: data).proto
                message.files.append(node)
                here.append((Digest(data: data), node.name))
            }
            let bytes: Data = try message.serializedBytes()
            let digest = Digest(data: bytes)
            listings[digest] = DirectoryListing(try ValidatedDirectory(message, digest: digest))
            var entry = Build_Bazel_Remote_Execution_V2_DirectoryNode()
            entry.name = String(format: "d%03d", d)
            entry.digest = digest.proto
            root.directories.append(entry)
            files += here.map { ($0.0, digest, $0.1, entry.name) }
        }
        let bytes: Data = try root.serializedBytes()
        let rootDigest = Digest(data: bytes)
        listings[rootDigest] = DirectoryListing(try ValidatedDirectory(root, digest: rootDigest))
        return (listings, rootDigest, files)
    }

    /// A reader that walks faster than blobs arrive reads every file while its guess is still
    /// on its way (a cold read each time): the walk guess must stay on, and nothing may be
    /// guessed twice (before, each such read guessed the in-flight siblings again, moved their
    /// credit from the walk to the siblings, and the walk was switched off after a few batches).
    @Test func aWalkTheReaderCatchesUpWithStaysOnAndNothingIsGuessedTwice() throws {
        let (listings, root, files) = try Self.tree(directories: 200, perDirectory: 5)
        let readAhead = ReadAhead(policy: .eager)
        var guessed = Set<Digest>()
        var read = Set<Digest>()  // a file that was read is local
        var twice = 0
        for file in files {
            let position = ReadAhead.Position(listing: listings[file.parent]!, parent: file.parent, name: file.name,
                                              ancestors: [ReadAhead.Ancestor(listing: listings[root]!, digest: root, after: file.directory)])
            let done = read
            let picks = readAhead.companions(of: file.digest, at: position, isLocal: { done.contains($0) }) { listings[$0] }
            read.insert(file.digest)
            twice += picks.filter { guessed.contains($0) }.count
            guessed.formUnion(picks)
        }
        #expect(twice == 0, "\(twice) blobs were guessed again while on their way")
        // Every file after the first was guessed ahead of its read.
        #expect(guessed.count == files.count - 1, "\(guessed.count) of \(files.count - 1) guessed")
        // Guesses kept reaching beyond the reader's directory to the end of the tree.
        #expect(guessed.contains(files.last!.digest))
    }

    /// A serial walk (`find | xargs cat`) whose guesses arrive at once: after the first cold
    /// read, reading the marker half-way through each walk batch asks for the next one, so the
    /// reader never waits again — one cold read for the whole tree, where a walk guessed only on
    /// cold reads costs one per batch.
    @Test func aFollowedWalkRunsAheadOfTheReader() throws {
        let (listings, root, files) = try Self.tree(directories: 100, perDirectory: 20)
        let readAhead = ReadAhead(policy: .eager)
        var local = Set<Digest>(), cold = 0, continuations = 0
        for file in files {
            let done = local
            let picks: [Digest]
            if done.contains(file.digest) {
                picks = readAhead.continuation(after: file.digest, isLocal: { done.contains($0) }) { listings[$0] }
                continuations += picks.isEmpty ? 0 : 1
            } else {
                cold += 1
                let position = ReadAhead.Position(listing: listings[file.parent]!, parent: file.parent, name: file.name,
                                                  ancestors: [ReadAhead.Ancestor(listing: listings[root]!, digest: root, after: file.directory)])
                picks = readAhead.companions(of: file.digest, at: position, isLocal: { done.contains($0) }) { listings[$0] }
                local.insert(file.digest)
            }
            local.formUnion(picks)
        }
        #expect(cold == 1, "\(cold) cold reads in a walk of \(files.count) files")
        // ~21 MB in batches of at most 2 MiB.
        #expect(continuations >= 9, "\(continuations) batches asked for ahead of the reader")
        #expect(local.count == files.count)
    }

    /// Scattered reads — three files in each of 100 directories, in random order (a test suite
    /// reading a few files here and there) — must not pull every directory they touch: once
    /// sibling guesses have been seen to miss, a directory without a hit of its own gets none
    /// until an eighth of its files were cold reads. (Before, `cautious` sent each
    /// directory's 100 siblings at its second cold read.) A directory read whole afterwards
    /// still gets its siblings.
    @Test(arguments: [ReadAheadPolicy.cautious, .eager])
    func scatteredReadsDoNotPullEveryDirectoryTheyTouch(policy: ReadAheadPolicy) throws {
        let (listings, root, files) = try Self.tree(directories: 100, perDirectory: 100)
        let readAhead = ReadAhead(policy: policy)
        var generator = SystemRandomNumberGenerator()
        let byDirectory = Dictionary(grouping: files, by: \.directory)
        let scattered = byDirectory.values.flatMap { $0.shuffled(using: &generator).prefix(3) }.shuffled(using: &generator)
        var read = Set<Digest>(), siblings = 0
        func coldRead(_ file: (digest: Digest, parent: Digest, name: String, directory: String)) -> [Digest] {
            let position = ReadAhead.Position(listing: listings[file.parent]!, parent: file.parent, name: file.name, ancestors: [ReadAhead.Ancestor(listing: listings[root]!, digest: root, after: file.directory)])
            let done = read
            if done.contains(file.digest) {
                return readAhead.continuation(after: file.digest, isLocal: { done.contains($0) }) { listings[$0] }
            }
            read.insert(file.digest)
            return readAhead.companions(of: file.digest, at: position, isLocal: { done.contains($0) }) { listings[$0] }
        }
        for file in scattered {
            let picks = coldRead(file)
            siblings += picks.filter { pick in byDirectory[file.directory]!.contains { $0.digest == pick } }.count
            read.formUnion(picks)
        }
        #expect(siblings < 300, "\(siblings) siblings guessed for 300 scattered reads over 100 directories")
        #expect(read.count < 1000, "\(read.count - 300) files guessed in all")
        // A directory read whole afterwards: its siblings come along after a few cold reads.
        let whole = byDirectory["d000"]!.filter { !read.contains($0.digest) }
        var guessedHere = 0
        for file in whole where !read.contains(file.digest) {
            let picks = coldRead(file)
            guessedHere += picks.filter { pick in whole.contains { $0.digest == pick } }.count
            read.formUnion(picks)
        }
        #expect(guessedHere > whole.count / 2, "\(guessedHere) of \(whole.count) siblings guessed in a directory read whole")
    }
}
