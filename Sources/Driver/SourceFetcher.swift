import Foundation
import Glibc
import LocalCAS

/// Fetches the sources that come from outside the project (`remote`, `tar`, `git`) into the
/// ``SourceCache``: each is downloaded once (`file://`, `http://`, `https://`, trying mirrors
/// before the alias's own URL), verified against its ref, turned into a tree in the local CAS
/// and keyed by its ref. A source already cached costs nothing.
///
/// Unpacking uses the host's `tar`, and `git` for git sources, as BuildStream itself does.
public struct SourceFetcher: Sendable {
    public let cache: SourceCache

    public init(cache: SourceCache) {
        self.cache = cache
    }

    /// Makes sure every fetched source of `element` is in the cache.
    /// - Returns: how many sources were fetched (not already cached).
    /// - Throws: ``ProjectError`` naming the element, the source and the URL(s) tried.
    @discardableResult
    public func fetch(_ element: ElementDefinition) async throws -> Int {
        var fetched = 0
        for source in element.sources where source.isFetched {
            guard let key = source.contentKey else {
                throw ProjectError("\(source.location): the \(source.kindName) source of \(element.name) has no ref: run 'lazycas source track \(element.name)'")
            }
            if cache.tree(for: key) != nil { continue }
            let root = try await fetchTree(source, element: element)
            try cache.record(root, for: key)
            fetched += 1
        }
        return fetched
    }

    private func fetchTree(_ source: SourceDefinition, element: ElementDefinition) async throws -> Digest {
        let work = try cache.scratch("fetch")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let place = "\(source.location): \(source.kindName) source of \(element.name)"
        switch source.kind {
        case .remote(let urls, let filename, let executable):
            let file = try await download(urls, sha256: source.ref!, into: work, at: place)
            let staged = work + "/staged"
            try FileManager.default.createDirectory(atPath: staged, withIntermediateDirectories: true)
            try FileManager.default.moveItem(atPath: file, toPath: staged + "/" + filename)
            guard chmod(staged + "/" + filename, executable ? 0o755 : 0o644) == 0 else {
                throw ProjectError("\(place): cannot set the mode of \(filename): \(String(cString: strerror(errno)))")
            }
            return try await BlockingWork.run { try importTree(staged, at: place) }
        case .tar(let urls, let baseDir):
            let file = try await download(urls, sha256: source.ref!, into: work, at: place)
            let unpacked = work + "/unpacked"
            let shown = source.url ?? file
            return try await BlockingWork.run {
                try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
                let result = HostTool.run(["tar", "-x", "--no-same-owner", "-f", file, "-C", unpacked])
                guard result.status == 0 else {
                    throw ProjectError("\(place): cannot unpack \(shown): \(result.output)")
                }
                return try importTree(try Self.baseDirectory(baseDir, in: unpacked, at: place), at: place)
            }
        case .git(let urls, _, let submodules):
            let (url, commit) = (source.url!, source.gitCommit!)
            return try await BlockingWork.run {
                let checkout = try GitMirror(cache: cache, url: url).checkout(commit: commit, urls: urls, into: work + "/checkout", at: place)
                if submodules, FileManager.default.fileExists(atPath: checkout + "/.gitmodules") {
                    throw ProjectError("\(place): the repository has submodules, which lazycas does not check out yet (set 'checkout-submodules: false' to build without them)")
                }
                return try importTree(checkout, at: place)
            }
        case .local, .patch:
            throw ProjectError("\(place): not a fetched source")
        }
    }

    private func importTree(_ directory: String, at place: String) throws -> Digest {
        do {
            return try TreeImporter(store: cache.store, storeFiles: true).importDirectory(at: directory).root
        } catch {
            throw ProjectError("\(place): cannot import the fetched source", cause: error)
        }
    }

    /// The directory of an unpacked tarball that `base-dir` (a glob; empty for all) names: the
    /// first match, in sorted order, as BuildStream picks it.
    static func baseDirectory(_ pattern: String, in root: String, at place: String) throws(ProjectError) -> String {
        guard !pattern.isEmpty else { return root }
        var candidates: [String] = []
        let walker = FileManager.default.enumerator(atPath: root)
        while let relative = walker?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), isDirectory.boolValue {
                candidates.append(relative)
            }
        }
        guard let match = candidates.sorted().first(where: { GlobPattern(pattern).matches($0) }) else {
            throw ProjectError("\(place): no directory in the tarball matches base-dir '\(pattern)'")
        }
        return root + "/" + match
    }

    /// Downloads the first of `urls` that answers into `directory` and checks its sha256.
    /// - Returns: the file's path.
    func download(_ urls: [String], sha256: String, into directory: String, at place: String) async throws -> String {
        let target = directory + "/download"
        var failures: [String] = []
        for url in urls {
            do {
                try await Self.download(url, to: target)
            } catch {
                failures.append("\(url): \(error)")
                continue
            }
            let digest = try await BlockingWork.run { try Digest(data: Data(contentsOf: URL(fileURLWithPath: target), options: .alwaysMapped)) }
            guard digest.hash == sha256 else {
                throw ProjectError("\(place): \(url) has sha256 \(digest.hash), but the ref says \(sha256) (wrong checksum)")
            }
            return target
        }
        throw ProjectError("\(place): cannot download it: \(failures.joined(separator: "; "))")
    }

    /// One download (`file://`, `http://`, `https://`) to `target`: a file is copied; a URL is
    /// fetched by the ``downloadHelper`` process.
    static func download(_ url: String, to target: String) async throws {
        try? FileManager.default.removeItem(atPath: target)
        guard let parsed = URL(string: url), let scheme = parsed.scheme else { throw ProjectError("not a URL") }
        switch scheme {
        case "file":
            try FileManager.default.copyItem(atPath: parsed.path, toPath: target)
        case "http", "https":
            let helper = downloadHelper
            let result = try await BlockingWork.run { HostTool.run([helper, url, target]) }
            switch result.status {
            case 0: return
            case 127: throw ProjectError("cannot run \(helper) (install it beside lazycas): \(result.output)")
            default: throw ProjectError(result.output.isEmpty ? "\(helper) failed with status \(result.status)" : result.output)
            }
        default:
            throw ProjectError("URL scheme '\(scheme)' is not supported (file, http, https)")
        }
    }

    /// `lazycas-download` (``CompanionExecutable``). A process of its own keeps Foundation's
    /// networking (libcurl and its TLS stack) out of every lazycas process.
    static var downloadHelper: String { CompanionExecutable.find("lazycas-download") ?? "lazycas-download" }
}
