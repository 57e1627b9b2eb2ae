import Driver
import LocalCAS

/// Whose access profile a mount or shell records and uses: what the tree argument names that
/// outlives one version of the tree.
enum ProfileKey {
    /// `ref:NAME`; `element:PROJECT/NAME.bst`; `bst:PROJECT/ELEMENT` (any cache key); nil for a
    /// bare digest (it names one version only). `variant` (build, buildtree) is appended.
    static func forTree(_ text: String, project: () -> String?, variant: String? = nil) -> String? {
        guard (try? Digest(parsing: text)) == nil else { return nil }
        let base: String
        if CommandContext.isBuildStream(text) {
            let reference = String(text.dropFirst(4))
            if let name = BuildStreamArtifactName(parsing: reference) {
                base = "bst:\(name.project)/\(name.element)"
            } else {
                base = "bst:\(project() ?? "")/\(BuildStreamArtifactName.normalName(of: reference))"
            }
        } else if text.hasSuffix(".bst") {
            base = "element:\(project() ?? "")/\(text)"
        } else {
            base = "ref:\(text)"
        }
        return variant.map { "\(base)#\($0)" } ?? base
    }
}
