import Foundation
import LocalCAS

/// A `patch` source applied to the sources staged before it: they are checked out from the
/// local CAS, `patch -pN -i FILE` runs in the source's directory (as buildstream-plugins runs
/// it), and the result is imported. Results are kept in the ``SourceCache`` keyed by the tree
/// patched, the patch's digest, the strip level and the directory, so a patch is applied once.
struct PatchApplication {
    let cache: SourceCache
    let nodes: PlannedNodes

    func apply(_ patch: String, strip: Int, to root: Digest, directory: String, at location: String) throws -> Digest {
        let patchDigest: Digest
        do {
            patchDigest = try Digest(data: Data(contentsOf: URL(fileURLWithPath: patch)))
        } catch {
            throw ProjectError("\(location): cannot read patch \(patch)", cause: error)
        }
        let key = "patch-" + Digest(data: Data("\(root)\n\(patchDigest)\n\(strip)\n\(directory)".utf8)).hash
        if let done = cache.tree(for: key) { return done }

        try nodes.persist(root)
        let work = try cache.scratch("patch")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let staged = work + "/staged"
        do {
            try FileManager.default.createDirectory(atPath: staged, withIntermediateDirectories: true)
            _ = try TreeCheckout(store: cache.store).write(root, into: staged)
        } catch {
            throw ProjectError("\(location): staging the sources to patch", cause: error)
        }
        let target = directory.isEmpty ? staged : staged + "/" + directory
        guard FileManager.default.fileExists(atPath: target) else {
            throw ProjectError("\(location): the patch's directory '\(directory)' is not in the sources staged before it")
        }
        let result = HostTool.run(["patch", "-p\(strip)", "-i", patch], in: target)
        guard result.status == 0 else {
            throw ProjectError("\(location): patch \(URL(fileURLWithPath: patch).lastPathComponent) does not apply: \(result.output)")
        }
        let patched: Digest
        do {
            patched = try TreeImporter(store: cache.store, storeFiles: true).importDirectory(at: staged).root
        } catch {
            throw ProjectError("\(location): importing the patched sources", cause: error)
        }
        try cache.record(patched, for: key)
        return patched
    }
}
