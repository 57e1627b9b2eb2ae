import Foundation
import LocalCAS

/// A bare mirror of a git repository in the source cache (`CACHE/sources/git/HASH-OF-URL`),
/// fetched from the source's URLs (mirrors first) only when it lacks the commit asked for.
struct GitMirror {
    let path: String

    init(cache: SourceCache, url: String) throws(CASError) {
        path = cache.directory + "/git/" + Digest(data: Data(url.utf8)).hash.prefix(32)
    }

    private func git(_ arguments: [String], in directory: String? = nil) -> HostTool.Result {
        HostTool.run(["git"] + arguments, in: directory, environment: ["GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"])
    }

    private func has(_ commit: String) -> Bool {
        FileManager.default.fileExists(atPath: path) && git(["--git-dir", path, "cat-file", "-e", commit + "^{commit}"]).status == 0
    }

    /// Fetches every branch and tag of the first of `urls` that answers.
    func update(urls: [String], at place: String) throws(ProjectError) {
        if !FileManager.default.fileExists(atPath: path) {
            let made = git(["init", "--bare", "--quiet", path])
            guard made.status == 0 else { throw ProjectError("\(place): cannot create a git mirror: \(made.output)") }
        }
        var failures: [String] = []
        for url in urls {
            let result = git(["--git-dir", path, "fetch", "--quiet", "--prune", "--tags", url, "+refs/heads/*:refs/heads/*"])
            if result.status == 0 { return }
            failures.append("\(url): \(result.output)")
        }
        throw ProjectError("\(place): cannot fetch: \(failures.joined(separator: "; "))")
    }

    /// The commit `branch` (a branch or tag) points at upstream, after a fetch.
    func resolve(_ branch: String, urls: [String], at place: String) throws(ProjectError) -> String {
        try update(urls: urls, at: place)
        let result = git(["--git-dir", path, "rev-parse", "--verify", "--quiet", branch + "^{commit}"])
        guard result.status == 0, result.output.count == 40 else {
            throw ProjectError("\(place): '\(branch)' is not a branch or tag of \(urls.last ?? "the repository")")
        }
        return result.output
    }

    /// A checkout of `commit` at `directory`, without `.git`: the tree, not the repository, so
    /// that it is the same on every machine.
    func checkout(commit: String, urls: [String], into directory: String, at place: String) throws(ProjectError) -> String {
        if !has(commit) { try update(urls: urls, at: place) }
        guard has(commit) else { throw ProjectError("\(place): commit \(commit) is not in \(urls.last ?? "the repository")") }
        let clone = git(["clone", "--quiet", "--no-checkout", "--shared", path, directory])
        guard clone.status == 0 else { throw ProjectError("\(place): cannot clone the mirror: \(clone.output)") }
        let checkout = git(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--force", commit], in: directory)
        guard checkout.status == 0 else { throw ProjectError("\(place): cannot check out \(commit): \(checkout.output)") }
        try? FileManager.default.removeItem(atPath: directory + "/.git")
        return directory
    }
}
