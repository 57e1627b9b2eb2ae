import LocalCAS

/// What an integrating `compose` element keeps of its action's output: the files of its
/// selected split domains, plus what the integration commands added, minus what they removed
/// — as BuildStream's compose element computes it, here from Directory nodes alone.
struct CompositionSplit: Sendable {
    /// The paths the split domains select, from the dependencies' artifacts.
    var manifest: Set<String>
    /// The tree the integration commands ran on.
    var staged: Digest

    /// The artifact made from `output`, the tree after integration.
    func apply(to output: Digest, in store: any DirectoryStore) throws(CASError) -> Digest {
        let selection = TreeSelection(store: store)
        let before = Set(try selection.paths(under: staged))
        let after = Set(try selection.paths(under: output))
        let added = after.subtracting(before)
        let removed = manifest.intersection(before).subtracting(after)
        let kept = manifest.union(added).subtracting(removed)
        return try selection.filter(output, keep: kept.contains) ?? .empty
    }
}
