import ArgumentParser
import Foundation
import LocalCAS
import RemoteCAS

/// `lazycas cas put DIR`: import a directory; with a remote, upload what the remote lacks.
struct CasPut: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Import a local directory and print the HASH/SIZE of its root Directory.",
        discussion: """
            Without a remote, every blob goes into the local CAS. With --remote, the Directory \
            nodes go into the local CAS and the remote receives whatever it is missing (one \
            FindMissingBlobs, then batched uploads); file content is read from DIR, not copied.
            """
    )

    @Argument(help: "The directory to import.")
    var directory: String

    @Option(name: .long, help: "Also point this ref at the root.")
    var ref: String?

    @OptionGroup var remote: RemoteOptions
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let context = try CommandContext(global: global, remote: remote)
        if let ref { try RefStore.validate(ref) }
        let tree = try TreeImporter(store: context.store, storeFiles: context.remote == nil)
            .importDirectory(at: directory)
        if context.remote != nil {
            var blobs: [Digest: Blob] = tree.directories.mapValues { .bytes($0) }
            for (digest, path) in tree.files { blobs[digest] = .path(path) }
            let summary = try await context.withRemote(for: "cas put") { remote in
                guard let connection = remote.connection else { throw CASError(.invalidArgument, "cas put needs a remote") }
                let progress = ProgressLine(label: "uploading", following: remote.metrics, direction: .sent)
                defer { progress.finish() }
                return try await connection.store.upload(blobs, sending: progress.expect)
            }
            Terminal.note("uploaded \(summary.missing) of \(summary.offered) blobs (\(formatBytes(summary.bytesSent)); \(tree.fileCount) files, \(tree.directories.count) directories)")
        }
        if let ref { try context.refs.set(ref, to: tree.root) }
        print(tree.root)
    }
}
