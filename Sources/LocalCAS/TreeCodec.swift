import FoundationEssentials
import REAPI
import SwiftProtobuf

/// The REAPI `Tree` message (an output directory's whole tree in one blob): its root Directory
/// and every distinct Directory below it once. The one place lazycas writes and reads one.
public enum TreeCodec {
    /// The serialized `Tree` of the directory `root`, whose nodes (serialized, by digest; the
    /// root's included) are in `nodes`. Children are in digest order, so the same tree always
    /// gives the same blob.
    public static func encode(root: Digest, nodes: [Digest: Data]) throws(CASError) -> Data {
        do {
            guard let rootData = nodes[root] else {
                throw CASError(.notFound, "the root Directory \(root) of a Tree is missing")
            }
            var tree = Build_Bazel_Remote_Execution_V2_Tree()
            tree.root = try Build_Bazel_Remote_Execution_V2_Directory(serializedBytes: rootData)
            for (digest, data) in nodes.sorted(by: { $0.key < $1.key }) where digest != root {
                tree.children.append(try Build_Bazel_Remote_Execution_V2_Directory(serializedBytes: data))
            }
            return try tree.serializedBytes()
        } catch let error as CASError {
            throw error
        } catch {
            throw CASError(.io, "cannot encode the Tree of \(root)", cause: error)
        }
    }

    /// The `Tree` of `root` from the local store (every node under it must be local).
    public static func encode(root: Digest, from store: LocalContentStore) throws(CASError) -> Data {
        var nodes: [Digest: Data] = [:]
        for digest in try TreeWalk.local(root, in: store).contents().directories {
            nodes[digest] = try store.read(digest)
        }
        return try encode(root: root, nodes: nodes)
    }

    /// A decoded `Tree`: the root's digest and every node, serialized (bytes that hash to its
    /// digest), validated.
    public struct Decoded: Sendable {
        public var root: Digest
        public var nodes: [Digest: Data]
        /// The file blobs the tree's nodes name.
        public var files: Set<Digest>
    }

    /// Decodes and validates a `Tree` blob. Messages are re-serialized to find each node's
    /// digest (REAPI's canonical encoding, which is what every producer hashes).
    /// - Throws: `.corrupt` if it does not parse or a node is invalid.
    public static func decode(_ data: Data, digest: Digest? = nil) throws(CASError) -> Decoded {
        let label = digest.map { "Tree \($0)" } ?? "a Tree"
        let tree: Build_Bazel_Remote_Execution_V2_Tree
        do {
            tree = try Build_Bazel_Remote_Execution_V2_Tree(serializedBytes: data)
        } catch {
            throw CASError(.corrupt, "\(label) does not parse", cause: error)
        }
        var decoded = Decoded(root: .empty, nodes: [:], files: [])
        for (index, directory) in ([tree.root] + tree.children).enumerated() {
            let bytes: Data
            do { bytes = try directory.serializedBytes() } catch {
                throw CASError(.io, "cannot serialize a Directory of \(label)", cause: error)
            }
            let node = Digest(data: bytes)
            let validated: ValidatedDirectory
            do { validated = try ValidatedDirectory(directory, digest: node) } catch {
                throw CASError(.corrupt, "\(label) holds an invalid Directory", cause: error)
            }
            decoded.nodes[node] = bytes
            for f in validated.files { decoded.files.insert(f.digest) }
            if index == 0 { decoded.root = node }
        }
        return decoded
    }
}
