import Foundation
import LocalCAS

/// Everything `lazycas serve` keeps on disk under one directory: the CAS (the same layout as a
/// client's cache, `objects/` and `tmp/`), action results (`ac/`) and asset names (`assets/`).
public final class ServerStorage: Sendable {
    public let root: String
    public let cas: LocalContentStore
    let actionCache: KeyValueFiles
    let assets: KeyValueFiles

    public init(root: String) throws(CASError) {
        self.root = root
        cas = try LocalContentStore(root: root)
        actionCache = try KeyValueFiles(directory: root + "/ac")
        assets = try KeyValueFiles(directory: root + "/assets")
    }
}
