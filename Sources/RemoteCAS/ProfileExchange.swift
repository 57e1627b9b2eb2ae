import FoundationEssentials
import GRPCCore
import LocalCAS
import REAPI
import SwiftProtobuf
import Synchronization

/// ``AccessProfile``s shared through a remote, so that a fresh worker (or another developer's
/// shell) starts with what earlier sessions of the same kind read. A profile is a blob in the
/// CAS; its key is a name for it: a Remote Asset URI (`lazycas-profile:KEY`) where the server
/// has the Remote Asset API (`lazycas serve`), else — BuildGrid 0.4.4 has none — an ActionCache
/// entry under a synthetic Action (Command `lazycas-access-profile KEY`, empty input root) whose
/// ActionResult names the profile blob as its one output file.
public final class ProfileExchange: Sendable {
    let connection: RemoteConnection
    let asset: AssetClient
    let cache: ActionCacheClient
    /// Set once the server has answered UNIMPLEMENTED to a Remote Asset call.
    private let assetMissing = Mutex(false)

    public init(connection: RemoteConnection) {
        self.connection = connection
        asset = AssetClient(connection: connection)
        cache = ActionCacheClient(connection: connection)
    }

    static func uri(_ key: String) -> String { "lazycas-profile:" + key }
    static let outputPath = "access-profile"

    /// The synthetic Action that names `key`'s profile in the ActionCache, and the blobs it is
    /// made of (uploaded with the profile, for servers that check them).
    static func action(_ key: String) -> (digest: Digest, blobs: [Digest: Blob]) {
        var command = Build_Bazel_Remote_Execution_V2_Command()
        command.arguments = ["lazycas-access-profile", key]
        let commandBytes = (try? command.serializedBytes() as Data) ?? Data()
        let emptyRoot = Data()
        var action = Build_Bazel_Remote_Execution_V2_Action()
        action.commandDigest = Digest(data: commandBytes).proto
        action.inputRootDigest = Digest(data: emptyRoot).proto
        let actionBytes = (try? action.serializedBytes() as Data) ?? Data()
        let digest = Digest(data: actionBytes)
        return (digest, [digest: .bytes(actionBytes), Digest(data: commandBytes): .bytes(commandBytes), Digest(data: emptyRoot): .bytes(emptyRoot)])
    }

    /// The profile the remote holds for `key`, or nil if it has none.
    /// - Throws: when the remote cannot be asked or holds a malformed profile.
    public func fetch(_ key: String) async throws(CASError) -> AccessProfile? {
        var digest: Digest?
        if !assetMissing.withLock({ $0 }) {
            do {
                digest = try await asset.fetchBlob(uri: Self.uri(key))
            } catch where Self.isUnimplemented(error) {
                assetMissing.withLock { $0 = true }
            }
        }
        if digest == nil, assetMissing.withLock({ $0 }) {
            let result = try await cache.result(for: Self.action(key).digest)
            if let file = result?.outputFiles.first(where: { $0.path == Self.outputPath }) { digest = try Digest(file.digest) }
        }
        guard let digest else { return nil }
        guard digest.sizeBytes <= Int64(AccessProfile.maxEncodedSize) else {
            throw CASError(.corrupt, "the remote's access profile \(digest) for \(key) is larger than \(AccessProfile.maxEncodedSize) bytes")
        }
        return try AccessProfile(decoding: try await connection.store.data(digest))
    }

    /// Stores `profile` as `key`'s on the remote: the blob, then its name.
    public func publish(_ profile: AccessProfile, as key: String) async throws(CASError) {
        let data = profile.encoded()
        let digest = Digest(data: data)
        if !assetMissing.withLock({ $0 }) {
            _ = try await connection.store.upload([digest: .bytes(data)])
            do {
                try await asset.pushBlob(uri: Self.uri(key), digest: digest)
                return
            } catch where Self.isUnimplemented(error) {
                assetMissing.withLock { $0 = true }
            }
        }
        let action = Self.action(key)
        var blobs = action.blobs
        blobs[digest] = .bytes(data)
        _ = try await connection.store.upload(blobs)
        var file = Build_Bazel_Remote_Execution_V2_OutputFile()
        file.path = Self.outputPath
        file.digest = digest.proto
        var result = Build_Bazel_Remote_Execution_V2_ActionResult()
        result.outputFiles = [file]
        try await cache.update(action.digest, to: result)
    }

    static func isUnimplemented(_ error: CASError) -> Bool {
        (error.cause as? RPCError)?.code == .unimplemented
    }
}
