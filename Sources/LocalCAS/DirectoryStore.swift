import FoundationEssentials

/// Where Directory nodes are read from and written to while trees are imported and composed:
/// the local CAS itself, or a layer in front of it that keeps new nodes in memory until they are
/// needed (a build's plan, which a read-only command computes without storing anything).
public protocol DirectoryStore: Sendable {
    /// The validated Directory node `digest`.
    /// - Throws: `.notFound` if it is not there, `.corrupt` if it does not parse or validate.
    func directory(_ digest: Digest) throws(CASError) -> ValidatedDirectory
    /// Keeps the serialized Directory `data`, whose digest is `digest`.
    func putDirectory(_ data: Data, digest: Digest) throws(CASError)
}

extension LocalContentStore: DirectoryStore {
    public func directory(_ digest: Digest) throws(CASError) -> ValidatedDirectory {
        try LocalTree(store: self).directory(digest)
    }

    public func putDirectory(_ data: Data, digest: Digest) throws(CASError) {
        try put(data, expecting: digest)
    }
}
