import Foundation
import LocalCAS

/// One entry of an element's `sources:`, parsed and checked: BuildStream's core `local`,
/// `remote` and `tar`, and buildstream-plugins' `patch` and `git`. Sources stage in order into
/// one directory (`%{build-root}` of a build element, the artifact of an import), each under
/// its `directory`.
public struct SourceDefinition: Sendable {
    public enum Kind: Sendable {
        /// A file or directory of the project (absolute path).
        case local(path: String)
        /// One downloaded file, named `filename`.
        case remote(urls: [String], filename: String, executable: Bool)
        /// A tarball, unpacked; `baseDir` is the glob of the directory inside it that is staged.
        case tar(urls: [String], baseDir: String)
        /// A patch of the project (absolute path) applied with `patch -pN` to what is staged so far.
        case patch(path: String, stripLevel: Int)
        /// A git commit (`ref`) of a repository.
        case git(urls: [String], track: String?, checkoutSubmodules: Bool)
    }

    public var kind: Kind
    /// `local`, `remote`, `tar`, `patch`, `git`.
    public var kindName: String
    /// The source's ref (sha256 of a download, git commit), nil when not tracked yet.
    public var ref: String?
    /// The URL as written (with its alias), for messages and tracking.
    public var url: String?
    /// Where it stages, relative to the staging directory.
    public var directory: String
    /// `FILE:LINE:COL` of the source.
    public var location: String
    /// Its index in the element's `sources:` (how `project.refs` addresses it).
    public var index: Int

    /// Sources whose content comes from outside the project and must be fetched.
    public var isFetched: Bool {
        switch kind {
        case .remote, .tar, .git: true
        case .local, .patch: false
        }
    }

    static let allowedKeys: [String: Set<String>] = [
        "local": ["path"],
        "remote": ["url", "ref", "filename", "executable"],
        "tar": ["url", "ref", "base-dir"],
        "patch": ["path", "strip-level"],
        "git": ["url", "ref", "track", "track-tags", "checkout-submodules", "submodules", "tags", "ref-format"],
    ]
    static let commonKeys: Set<String> = ["kind", "directory", "provenance"]

    /// Parses entry `index` of an element's `sources:` (project `sources:` overrides composed under it).
    /// - Parameter refs: the refs from `project.refs` for this element, when the project keeps them there.
    init(_ written: YAMLNode, index: Int, project: Project, refs: YAMLNode?) throws(ProjectError) {
        guard let kindNode = written["kind"] else { throw written.error("a source needs a 'kind'") }
        let kindName = try kindNode.string("'kind'")
        guard let allowed = Self.allowedKeys[kindName] else {
            throw kindNode.error("source kind '\(kindName)' is not supported by lazycas (supported: \(Self.allowedKeys.keys.sorted().joined(separator: ", ")))")
        }
        if Project.pluginSourceKinds.contains(kindName), !project.declaredKinds.sources.contains(kindName) {
            throw kindNode.error("source kind '\(kindName)' comes from buildstream-plugins: declare it in project.conf (plugins: - origin: pip, package-name: buildstream-plugins, sources: [\(kindName)])")
        }
        var node = project.sourceOverrides[kindName].flatMap { $0.isNull ? nil : $0 } ?? .emptyMapping(at: written.location)
        try written.composite(onto: &node)
        let keys = try node.keyed("a \(kindName) source", allowed: allowed.union(Self.commonKeys))
        self.kindName = kindName
        self.index = index
        location = written.location
        directory = try keys["directory"]?.string("'directory'") ?? ""
        do {
            _ = try TreeComposer.components(of: directory)
        } catch {
            throw keys["directory"]!.error(error.message)
        }
        guard !directory.split(separator: "/").contains("..") else {
            throw keys["directory"]!.error("source directory '\(directory)' must not contain '..'")
        }
        if project.refStorage == .projectRefs, keys["ref"] != nil, kindName != "local", kindName != "patch" {
            throw keys["ref"]!.error("this project keeps refs in project.refs (ref-storage), not in element files")
        }
        let refNode = project.refStorage == .projectRefs ? refs?["ref"] : keys["ref"]
        let ref = try refNode?.optionalString("'ref'")
        let url = try keys["url"]?.string("'url'")
        self.ref = ref
        self.url = url

        func urls() throws(ProjectError) -> [String] {
            guard let url, let urlNode = keys["url"] else { throw node.error("a \(kindName) source needs a 'url'") }
            return try project.urls(for: url, at: urlNode.location)
        }
        func projectPath(_ key: String) throws(ProjectError) -> String {
            guard let pathNode = keys[key] else { throw node.error("a \(kindName) source needs a '\(key)'") }
            let relative = try pathNode.string("'\(key)'")
            guard !relative.hasPrefix("/"), !relative.split(separator: "/").contains("..") else {
                throw pathNode.error("source path '\(relative)' must be relative to the project and stay inside it")
            }
            let absolute = URL(fileURLWithPath: project.root + "/" + relative).standardizedFileURL.path
            guard FileManager.default.fileExists(atPath: absolute) else {
                throw pathNode.error("source path '\(relative)' does not exist (\(absolute))")
            }
            return absolute
        }
        func checkSHA256() throws(ProjectError) {
            guard let ref else { return }
            guard ref.count == 64, ref.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                throw (refNode ?? node).error("ref '\(ref)' of a \(kindName) source is not a sha256 (64 lowercase hex digits)")
            }
        }

        switch kindName {
        case "local":
            kind = .local(path: try projectPath("path"))
        case "remote":
            try checkSHA256()
            let all = try urls()
            let filename = try keys["filename"]?.string("'filename'") ?? String(all.last!.split(separator: "/").last ?? "")
            guard !filename.isEmpty, !filename.contains("/"), filename != ".", filename != ".." else {
                throw (keys["filename"] ?? node).error("filename '\(filename)' must be a file name")
            }
            let executable = try keys["executable"].map { node throws(ProjectError) in try node.bool("'executable'") } ?? false
            kind = .remote(urls: all, filename: filename, executable: executable)
        case "tar":
            try checkSHA256()
            kind = .tar(urls: try urls(), baseDir: try keys["base-dir"]?.optionalString("'base-dir'") ?? "*")
        case "patch":
            let level = try keys["strip-level"]?.string("'strip-level'") ?? "1"
            guard let strip = Int(level), strip >= 0 else { throw keys["strip-level"]!.error("strip-level must be a number") }
            kind = .patch(path: try projectPath("path"), stripLevel: strip)
        default:
            if let ref, !(ref.count >= 40 && ref.suffix(40).allSatisfy(\.isHexDigit)) {
                throw (refNode ?? node).error("ref '\(ref)' of a git source is not a commit (40 hex digits, or git-describe output ending in one)")
            }
            let submodules = try keys["checkout-submodules"].map { node throws(ProjectError) in try node.bool("'checkout-submodules'") } ?? true
            kind = .git(urls: try urls(), track: try keys["track"]?.string("'track'"), checkoutSubmodules: submodules)
        }
    }

    /// The git commit of a ref (`v1.0-3-gSHA` → `SHA`).
    var gitCommit: String? {
        ref.map { String($0.suffix(40)) }
    }

    /// What identifies the fetched content: equal keys, equal trees (nil for project files).
    var contentKey: String? {
        guard let ref else { return nil }
        switch kind {
        case .local, .patch: return nil
        case .remote(_, let filename, let executable): return "remote-\(ref)-\(Digest(data: Data("\(filename)\n\(executable)".utf8)).hash.prefix(16))"
        case .tar(_, let baseDir): return "tar-\(ref)-\(Digest(data: Data(baseDir.utf8)).hash.prefix(16))"
        case .git(_, _, let submodules): return "git-\(gitCommit!)\(submodules ? "" : "-nosub")"
        }
    }
}
