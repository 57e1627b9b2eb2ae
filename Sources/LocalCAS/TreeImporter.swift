import FoundationEssentials
import Glibc
import REAPI
import SwiftProtobuf

/// A local directory turned into REAPI Directory nodes.
public struct ImportedTree: Sendable {
    /// The digest of the root Directory.
    public var root: Digest
    /// Every Directory node of the tree, serialized, by digest.
    public var directories: [Digest: Data]
    /// For every file blob, one local path that holds its content.
    public var files: [Digest: String]
    /// Number of regular files (counting duplicates).
    public var fileCount: Int
    /// Total bytes of regular files (counting duplicates).
    public var fileBytes: Int64
}

/// Builds Directory nodes from a local directory: regular files (with their executable bit),
/// symlinks (targets kept verbatim) and directories, empty ones included; names sorted by
/// their UTF-8 bytes as REAPI requires. Other file types (sockets, devices, FIFOs) are an error.
///
/// The Directory nodes always go into `nodes`; file content is hashed, and copied into the
/// local CAS `files` as well when there is one (a `cas put` to a remote uploads files straight
/// from the source instead, and a build's plan stores them only when it runs).
public struct TreeImporter: Sendable {
    public let nodes: any DirectoryStore
    public let files: LocalContentStore?
    /// What each file node records of the file besides its content and executable bit (a
    /// Command's `output_node_properties`); nothing by default, so that a tree's digest
    /// depends on content alone.
    public var properties: Set<NodeProperty> = []

    /// A file attribute a `FileNode` can carry in its `node_properties`.
    public enum NodeProperty: String, Sendable, Hashable {
        case mtime
        case unixMode = "unix_mode"
    }

    public init(nodes: any DirectoryStore, files: LocalContentStore?) {
        self.nodes = nodes
        self.files = files
    }

    /// Nodes into `store`, and file content too when `storeFiles`.
    public init(store: LocalContentStore, storeFiles: Bool) {
        self.init(nodes: store, files: storeFiles ? store : nil)
    }

    /// Imports the directory at `path`.
    public func importDirectory(at path: String) throws(CASError) -> ImportedTree {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw CASError(.invalidArgument, "\(path) is not a directory")
        }
        var tree = ImportedTree(root: .empty, directories: [:], files: [:], fileCount: 0, fileBytes: 0)
        tree.root = try importDirectory(path, into: &tree)
        return tree
    }

    /// Imports the regular file at `path` as a tree: a Directory holding just that file, under
    /// its own name.
    public func importSingleFile(at path: String) throws(CASError) -> ImportedTree {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw CASError(.invalidArgument, "\(path) is not a regular file")
        }
        let file = try fileDigest(path)
        var directory = DirectoryBuilder()
        directory[URL(fileURLWithPath: path).lastPathComponent] = .file(file, isExecutable: (st.st_mode & S_IXUSR) != 0)
        do {
            let (digest, data) = try directory.serialized()
            try nodes.putDirectory(data, digest: digest)
            return ImportedTree(root: digest, directories: [digest: data], files: [file: path], fileCount: 1, fileBytes: file.sizeBytes)
        } catch {
            throw CASError.wrapping(error, "storing the Directory for \(path)")
        }
    }

    private func importDirectory(_ path: String, into tree: inout ImportedTree) throws(CASError) -> Digest {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw CASError(.io, "cannot list \(path)", cause: error)
        }
        var directory = DirectoryBuilder()
        for name in names {
            let child = path + "/" + name
            var st = stat()
            guard lstat(child, &st) == 0 else {
                throw CASError(.io, "cannot stat \(child): \(String(cString: strerror(errno)))")
            }
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                let digest = try fileDigest(child)
                directory[name] = fileEntry(digest, st)
                tree.files[digest] = tree.files[digest] ?? child
                tree.fileCount += 1
                tree.fileBytes += digest.sizeBytes
            case S_IFDIR:
                directory[name] = .directory(try importDirectory(child, into: &tree))
            case S_IFLNK:
                directory[name] = .symlink(to: try Self.readLink(child))
            default:
                throw CASError(.invalidArgument, "\(child) is not a regular file, directory or symlink")
            }
        }
        let (digest, data) = try directory.serialized()
        try nodes.putDirectory(data, digest: digest)
        tree.directories[digest] = data
        return digest
    }

    /// The file node of a file with `digest` and `st`, with the ``properties`` asked for.
    public func fileEntry(_ digest: Digest, _ st: stat) -> DirectoryBuilder.Entry {
        var node = Build_Bazel_Remote_Execution_V2_FileNode()
        node.digest = digest.proto
        node.isExecutable = (st.st_mode & S_IXUSR) != 0
        if let recorded = Self.nodeProperties(properties, of: st) { node.nodeProperties = recorded }
        return .file(node)
    }

    /// `properties` of a file with `st`, or nil for none.
    public static func nodeProperties(_ properties: Set<NodeProperty>, of st: stat) -> Build_Bazel_Remote_Execution_V2_NodeProperties? {
        guard !properties.isEmpty else { return nil }
        var recorded = Build_Bazel_Remote_Execution_V2_NodeProperties()
        if properties.contains(.mtime) {
            recorded.mtime = Google_Protobuf_Timestamp(seconds: Int64(st.st_mtim.tv_sec), nanos: Int32(st.st_mtim.tv_nsec))
        }
        if properties.contains(.unixMode) {
            recorded.unixMode = Google_Protobuf_UInt32Value(UInt32(st.st_mode & 0o7777))
        }
        return recorded
    }

    private func fileDigest(_ path: String) throws(CASError) -> Digest {
        if let files { return try files.importFile(at: path) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CASError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var builder = DigestBuilder()
        do {
            try FileDescriptorIO.forEachChunk(fd: fd, chunkSize: 1 << 20, path: path) { builder.update($0) }
        } catch {
            throw CASError.wrapping(error, "hashing \(path)")
        }
        return builder.finalize()
    }

    static func readLink(_ path: String) throws(CASError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { throw CASError(.io, "cannot read link \(path): \(String(cString: strerror(errno)))") }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
