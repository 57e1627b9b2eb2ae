import FoundationEssentials
import REAPI
import SwiftProtobuf

/// A `Directory` message whose names and digests have been checked.
///
/// REAPI requires each of `files`, `directories` and `symlinks` to be sorted by name and the
/// names to be unique across all three. Directory nodes arrive from remote servers and from
/// disk; `ValidatedDirectory` is the only way code in lazycas looks inside one.
public struct ValidatedDirectory: Sendable {
    /// A regular file entry.
    public struct File: Sendable, Hashable {
        public var name: PathComponent
        public var digest: Digest
        public var isExecutable: Bool
        /// Modification time from node properties, if the producer recorded one.
        public var mtime: Date?
    }
    /// A subdirectory entry.
    public struct Subdirectory: Sendable, Hashable {
        public var name: PathComponent
        public var digest: Digest
    }
    /// A symbolic link entry. The target is data, never followed by lazycas itself.
    public struct Symlink: Sendable, Hashable {
        public var name: PathComponent
        public var target: String
    }

    public let files: [File]
    public let directories: [Subdirectory]
    public let symlinks: [Symlink]
    /// The message as received.
    public let message: Build_Bazel_Remote_Execution_V2_Directory

    /// Validates `message`. `digest` only names the node in error messages.
    public init(_ message: Build_Bazel_Remote_Execution_V2_Directory, digest: Digest? = nil) throws(CASError) {
        let label = digest.map { "Directory \($0)" } ?? "Directory"
        do {
            files = try message.files.map { f throws(CASError) in
                File(name: try PathComponent(f.name), digest: try Digest(f.digest), isExecutable: f.isExecutable,
                     mtime: f.hasNodeProperties && f.nodeProperties.hasMtime ? f.nodeProperties.mtime.date : nil)
            }
            directories = try message.directories.map { d throws(CASError) in
                Subdirectory(name: try PathComponent(d.name), digest: try Digest(d.digest))
            }
            symlinks = try message.symlinks.map { s throws(CASError) in
                guard !s.target.isEmpty, !s.target.utf8.contains(0) else {
                    throw CASError(.corrupt, "symlink '\(s.name)' has an empty or NUL-containing target")
                }
                return Symlink(name: try PathComponent(s.name), target: s.target)
            }
            try Self.checkSorted(files.map(\.name), "files")
            try Self.checkSorted(directories.map(\.name), "directories")
            try Self.checkSorted(symlinks.map(\.name), "symlinks")
            var seen = Set<PathComponent>()
            for name in files.map(\.name) + directories.map(\.name) + symlinks.map(\.name) {
                guard seen.insert(name).inserted else {
                    throw CASError(.corrupt, "name '\(name)' appears more than once")
                }
            }
        } catch {
            throw CASError(.corrupt, "invalid \(label)", cause: error)
        }
        self.message = message
    }

    /// Parses and validates serialized Directory bytes.
    public init(serialized data: Data, digest: Digest? = nil) throws(CASError) {
        let message: Build_Bazel_Remote_Execution_V2_Directory
        do {
            message = try Build_Bazel_Remote_Execution_V2_Directory(serializedBytes: data)
        } catch {
            throw CASError(.corrupt, "\(digest.map { "Directory \($0)" } ?? "Directory") does not parse", cause: error)
        }
        try self.init(message, digest: digest)
    }

    private static func checkSorted(_ names: [PathComponent], _ field: String) throws(CASError) {
        for (a, b) in zip(names, names.dropFirst()) where !(a < b) {
            throw CASError(.corrupt, "\(field) are not sorted or not unique: '\(a)' before '\(b)'")
        }
    }

    /// The digests of every child Directory.
    public var childDigests: [Digest] { directories.map(\.digest) }
}
