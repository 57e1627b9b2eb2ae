import Foundation
import LocalCAS
import REAPI

/// Collects an action's outputs from the tree its sandbox left (a lazy root's capture, see
/// ``OverlayCapture``) rather than from files on disk: every output is looked up in Directory
/// nodes, so a file the action did not write keeps the digest it had in the input root and is
/// never read, fetched or hashed. The rules are ``OutputCapture``'s: paths are relative to the
/// working directory, may not climb out of the root, and no symlink on the way is followed.
public struct TreeOutputs: Sendable {
    public let store: LocalContentStore

    public init(store: LocalContentStore) {
        self.store = store
    }

    /// The outputs named by `paths` in `root`, which must be complete locally (a capture is).
    /// Output directories get a `Tree` blob, stored here. Missing outputs are skipped.
    public func capture(_ paths: [String], workingDirectory: String, root: Digest) throws(CASError) -> OutputCapture.Outputs {
        var outputs = OutputCapture.Outputs()
        let tree = LocalTree(store: store)
        for relative in paths {
            let inRoot = workingDirectory.isEmpty ? relative : workingDirectory + "/" + relative
            guard !inRoot.hasPrefix("/"), let parts = OutputCapture.normalized(inRoot), !parts.isEmpty else { continue }
            let entry: LocalTree.Entry
            do {
                entry = try tree.resolve(root, path: parts.joined(separator: "/"))
            } catch where error.code == .notFound {
                continue
            }
            switch entry {
            case .file(let file):
                var output = Build_Bazel_Remote_Execution_V2_OutputFile()
                output.path = relative
                output.digest = file.digest.proto
                output.isExecutable = file.isExecutable
                outputs.files.append(output)
            case .symlink(let link):
                var output = Build_Bazel_Remote_Execution_V2_OutputSymlink()
                output.path = relative
                output.target = link.target
                outputs.symlinks.append(output)
            case .directory(let digest):
                var output = Build_Bazel_Remote_Execution_V2_OutputDirectory()
                output.path = relative
                output.treeDigest = try storeTree(of: digest).proto
                output.rootDirectoryDigest = digest.proto
                outputs.directories.append(output)
            }
        }
        return outputs
    }

    /// Stores the `Tree` blob of the directory `digest`.
    private func storeTree(of digest: Digest) throws(CASError) -> Digest {
        do {
            return try store.put(try TreeCodec.encode(root: digest, from: store))
        } catch {
            throw CASError.wrapping(error, "storing the Tree of output directory \(digest)")
        }
    }
}
