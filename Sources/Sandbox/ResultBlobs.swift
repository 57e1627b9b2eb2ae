import Foundation
import LocalCAS
import REAPI

extension Build_Bazel_Remote_Execution_V2_ActionResult {
    /// The blobs the result names itself: output files, each output directory's Tree (and root
    /// Directory), stdout and stderr.
    public var topLevelBlobs: [Build_Bazel_Remote_Execution_V2_Digest] {
        var blobs = outputFiles.map(\.digest)
        for dir in outputDirectories {
            blobs.append(dir.treeDigest)
            if dir.hasRootDirectoryDigest { blobs.append(dir.rootDirectoryDigest) }
        }
        if hasStdoutDigest { blobs.append(stdoutDigest) }
        if hasStderrDigest { blobs.append(stderrDigest) }
        return blobs
    }

    /// Every blob the result needs, its output directories' Directory nodes and files included
    /// (read from the Trees in `store`; a Tree that is not there contributes only itself).
    public func referencedBlobs(in store: LocalContentStore) -> [Digest] {
        var digests = topLevelBlobs.compactMap { try? Digest($0) }
        for dir in outputDirectories {
            guard let tree = try? Digest(dir.treeDigest), let data = try? store.read(tree),
                  let decoded = try? TreeCodec.decode(data, digest: tree) else { continue }
            digests += decoded.nodes.keys
            digests += decoded.files
        }
        return digests
    }
}
