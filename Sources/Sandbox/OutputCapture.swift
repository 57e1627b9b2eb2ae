import Foundation
import Glibc
import LocalCAS
import REAPI

/// Collects an action's outputs from its working directory into the CAS, as the parts of an
/// `ActionResult`: files (with their executable bit), directories (as a `Tree` blob, with the
/// root Directory's digest too) and symlinks.
///
/// Output paths are relative to the working directory and may not climb out of it (`..`,
/// absolute paths) or pass through a symlink the action made (the working directory
/// included): a path that tries is skipped, so an action cannot make the server capture host
/// files.
public struct OutputCapture: Sendable {
    public let store: LocalContentStore

    public init(store: LocalContentStore) {
        self.store = store
    }

    /// The captured outputs, ready to go into an `ActionResult`.
    public struct Outputs: Sendable {
        public var files: [Build_Bazel_Remote_Execution_V2_OutputFile] = []
        public var directories: [Build_Bazel_Remote_Execution_V2_OutputDirectory] = []
        public var symlinks: [Build_Bazel_Remote_Execution_V2_OutputSymlink] = []
        /// The symlinks among the declared `output_files` and `output_directories` of a v2.0
        /// Command (``ActionSpec/conform(_:)``).
        public var fileSymlinks: [Build_Bazel_Remote_Execution_V2_OutputSymlink] = []
        public var directorySymlinks: [Build_Bazel_Remote_Execution_V2_OutputSymlink] = []
    }

    /// Captures `paths`, relative to `workingDirectory`, itself relative to the staged `root`.
    /// Paths that do not exist are skipped (REAPI: a missing output is not an error; the client
    /// decides). Every directory on the way, the working directory's included, must be a real
    /// directory inside `root`: the action owns the tree and may have replaced any of them
    /// with a symlink to the host.
    /// `properties` are what file nodes record besides content (the Command's `output_node_properties`).
    public func capture(_ paths: [String], workingDirectory: String, root: String,
                        properties: Set<TreeImporter.NodeProperty> = []) throws(CASError) -> Outputs {
        var outputs = Outputs()
        for relative in paths {
            let inRoot = workingDirectory.isEmpty ? relative : workingDirectory + "/" + relative
            guard let path = Self.resolve(inRoot, under: root) else { continue }
            var st = stat()
            guard lstat(path, &st) == 0 else { continue }
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                var file = Build_Bazel_Remote_Execution_V2_OutputFile()
                file.path = relative
                file.digest = try store.importFile(at: path).proto
                file.isExecutable = st.st_mode & S_IXUSR != 0
                if let recorded = TreeImporter.nodeProperties(properties, of: st) { file.nodeProperties = recorded }
                outputs.files.append(file)
            case S_IFDIR:
                var importer = TreeImporter(store: store, storeFiles: true)
                importer.properties = properties
                let imported = try importer.importDirectory(at: path)
                var dir = Build_Bazel_Remote_Execution_V2_OutputDirectory()
                dir.path = relative
                do {
                    dir.treeDigest = try store.put(try TreeCodec.encode(root: imported.root, nodes: imported.directories)).proto
                } catch {
                    throw CASError.wrapping(error, "storing the Tree of output \(relative)")
                }
                dir.rootDirectoryDigest = imported.root.proto
                outputs.directories.append(dir)
            case S_IFLNK:
                var link = Build_Bazel_Remote_Execution_V2_OutputSymlink()
                link.path = relative
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(path, &buffer, buffer.count - 1)
                guard n >= 0 else { continue }
                link.target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                outputs.symlinks.append(link)
            default:
                continue
            }
        }
        return outputs
    }

    /// `relative` under `base`, if it stays inside: no absolute path, no `..`, and no
    /// component before the last that is a symlink.
    static func resolve(_ relative: String, under base: String) -> String? {
        // No component left is the root itself (BuildStream asks for `.` to keep the whole root).
        guard !relative.hasPrefix("/"), let parts = normalized(relative) else { return nil }
        var path = base
        for (i, part) in parts.enumerated() {
            path += "/" + part
            if i < parts.count - 1 {
                var st = stat()
                guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return nil }
            }
        }
        return path
    }

    /// The components of `path` with `.` dropped and each `..` taking away the component before
    /// it (BuildStream names outputs like `../../../buildstream-install`, relative to a working
    /// directory); nil if it climbs above its start. Resolving lexically means a `..` never
    /// follows a symlink the action made: every component left is then checked to be a real
    /// directory by ``resolve(_:under:)``.
    public static func normalized(_ path: String) -> [String]? {
        var parts: [String] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." {
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
            } else {
                parts.append(String(part))
            }
        }
        return parts
    }
}
