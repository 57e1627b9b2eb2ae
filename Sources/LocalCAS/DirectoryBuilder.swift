import FoundationEssentials
import REAPI
import SwiftProtobuf

/// One Directory node being assembled: entries by name, each a file, a subdirectory or a
/// symlink; setting a name replaces whatever was there. ``message`` lists them as REAPI
/// requires (each list sorted by the UTF-8 bytes of the names), so two builders with the same
/// entries always give the same bytes and digest.
///
/// The one way lazycas makes Directory nodes: importing a local directory, composing trees,
/// applying an overlay's upper layer, placing a tree under a path.
public struct DirectoryBuilder: Sendable {
    /// One entry. Files and symlinks keep their whole node (node properties included), so an
    /// entry carried over from an existing Directory is written back unchanged.
    public enum Entry: Sendable, Equatable {
        case file(Build_Bazel_Remote_Execution_V2_FileNode)
        case directory(Digest)
        case symlink(Build_Bazel_Remote_Execution_V2_SymlinkNode)

        /// A file entry with no node properties.
        public static func file(_ digest: Digest, isExecutable: Bool) -> Entry {
            var node = Build_Bazel_Remote_Execution_V2_FileNode()
            node.digest = digest.proto
            node.isExecutable = isExecutable
            return .file(node)
        }

        /// A symlink entry; the target is kept verbatim.
        public static func symlink(to target: String) -> Entry {
            var node = Build_Bazel_Remote_Execution_V2_SymlinkNode()
            node.target = target
            return .symlink(node)
        }

        public var isDirectory: Bool {
            if case .directory = self { true } else { false }
        }
    }

    public private(set) var entries: [String: Entry] = [:]

    /// The Directory's own node properties (REAPI `Directory.node_properties`), such as
    /// `SubtreeReadOnly`; nil when it has none. A copy of an existing Directory starts without
    /// them: they describe how a tree was staged (an action's input root), and a tree made from
    /// it (an action's outputs, a composition) is new.
    public private(set) var nodeProperties: Build_Bazel_Remote_Execution_V2_NodeProperties?

    /// An empty directory.
    public init() {}

    /// A copy of the validated Directory `directory`, to be changed.
    public init(_ directory: ValidatedDirectory) {
        for f in directory.message.files { entries[f.name] = .file(f) }
        for d in directory.directories { entries[d.name.name] = .directory(d.digest) }
        for s in directory.message.symlinks { entries[s.name] = .symlink(s) }
    }

    /// The entry called `name`; setting nil removes it.
    public subscript(name: String) -> Entry? {
        get { entries[name] }
        set { entries[name] = newValue }
    }

    public var isEmpty: Bool { entries.isEmpty }

    /// Sets the Directory's node property `name` to `value`, replacing any earlier value; the
    /// properties stay sorted by name, as REAPI requires.
    public mutating func setProperty(_ name: String, to value: String) {
        var properties = nodeProperties ?? Build_Bazel_Remote_Execution_V2_NodeProperties()
        properties.properties.removeAll { $0.name == name }
        var property = Build_Bazel_Remote_Execution_V2_NodeProperty()
        property.name = name
        property.value = value
        properties.properties.append(property)
        properties.properties.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        nodeProperties = properties
    }

    /// The Directory message: each list sorted by name (UTF-8 byte order), names filled in.
    public var message: Build_Bazel_Remote_Execution_V2_Directory {
        var directory = Build_Bazel_Remote_Execution_V2_Directory()
        if let nodeProperties { directory.nodeProperties = nodeProperties }
        for name in entries.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            switch entries[name]! {
            case .file(var node):
                node.name = name
                directory.files.append(node)
            case .symlink(var node):
                node.name = name
                directory.symlinks.append(node)
            case .directory(let digest):
                var node = Build_Bazel_Remote_Execution_V2_DirectoryNode()
                node.name = name
                node.digest = digest.proto
                directory.directories.append(node)
            }
        }
        return directory
    }

    /// The serialized message and its digest.
    public func serialized() throws(CASError) -> (digest: Digest, data: Data) {
        do {
            let data: Data = try message.serializedBytes()
            return (Digest(data: data), data)
        } catch {
            throw CASError(.io, "cannot serialize a Directory", cause: error)
        }
    }

    /// Stores the node in `store` and returns its digest.
    @discardableResult
    public func store(in store: any DirectoryStore) throws(CASError) -> Digest {
        let (digest, data) = try serialized()
        try store.putDirectory(data, digest: digest)
        return digest
    }
}
