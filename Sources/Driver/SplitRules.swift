import LocalCAS

/// An element's split rules (`public: bst: split-rules`): domain → globs of absolute paths.
/// Selecting files by domain is how `compose` and `filter` elements pick what they keep, with
/// BuildStream's rule: a file is kept when it is claimed by an included domain (every domain,
/// when none is named) and by no excluded one, or when it is claimed by no domain at all and
/// orphans are kept.
struct SplitRules: Sendable {
    private let domains: [String: [GlobPattern]]

    init(_ rules: [String: [String]]) {
        domains = rules.mapValues { $0.map(GlobPattern.init) }
    }

    var domainNames: Set<String> { Set(domains.keys) }

    /// Does the selection keep `path` (relative to the artifact root, no leading `/`)?
    func keeps(_ path: String, include: [String], exclude: [String], orphans: Bool) -> Bool {
        let filename = "/" + path
        let included = include.isEmpty ? domainNames : Set(include).intersection(domainNames)
        let excluded = Set(exclude).intersection(domainNames)
        var claimed = false, keep = false, drop = false
        for (domain, patterns) in domains where patterns.contains(where: { $0.matches(filename) }) {
            claimed = true
            if included.contains(domain) { keep = true }
            if excluded.contains(domain) { drop = true }
        }
        if orphans && !claimed { keep = true }
        return keep && !drop
    }
}

/// Paths in a tree, and a tree cut down to some of them, by Directory node (nothing is fetched).
struct TreeSelection {
    let store: any DirectoryStore

    /// Every path under `root` (directories other than the root, files and symlinks), relative.
    func paths(under root: Digest, prefix: String = "") throws(CASError) -> [String] {
        let directory = try store.directory(root)
        var result: [String] = []
        for file in directory.files { result.append(prefix + file.name.name) }
        for link in directory.symlinks { result.append(prefix + link.name.name) }
        for sub in directory.directories {
            result.append(prefix + sub.name.name)
            result += try paths(under: sub.digest, prefix: prefix + sub.name.name + "/")
        }
        return result
    }

    /// `root` with only the files and symlinks `keep` accepts; a directory stays when something
    /// in it does, or when `keep` accepts it (then possibly empty), as BuildStream's filtered
    /// import leaves them.
    func filter(_ root: Digest, prefix: String = "", keep: (String) -> Bool) throws(CASError) -> Digest? {
        let directory = try store.directory(root)
        var builder = DirectoryBuilder()
        for file in directory.message.files where keep(prefix + file.name) { builder[file.name] = .file(file) }
        for link in directory.message.symlinks where keep(prefix + link.name) { builder[link.name] = .symlink(link) }
        for sub in directory.directories {
            let path = prefix + sub.name.name
            if let kept = try filter(sub.digest, prefix: path + "/", keep: keep) {
                builder[sub.name.name] = .directory(kept)
            } else if keep(path) {
                builder[sub.name.name] = .directory(try DirectoryBuilder().store(in: store))
            }
        }
        if builder.isEmpty && !prefix.isEmpty { return nil }
        return try builder.store(in: store)
    }
}
