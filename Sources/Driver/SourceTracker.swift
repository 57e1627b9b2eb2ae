import Foundation
import LocalCAS

/// `lazycas source track`: works out the newest ref of each fetched source (the sha256 of what
/// a `remote`/`tar` URL serves now, the commit a git source's `track` branch points at) and
/// writes it where BuildStream would: the element file (`ref-storage: inline`) or
/// `project.refs`.
///
/// An element file is edited as text, in place: an existing `ref:` line of the source is
/// replaced, else one is added after the source's `kind:` line, with the same indentation; the
/// rest of the file is left as written.
public struct SourceTracker: Sendable {
    public let project: Project
    public let cache: SourceCache

    public init(project: Project, cache: SourceCache) {
        self.project = project
        self.cache = cache
    }

    /// One ref that changed.
    public struct Change: Sendable {
        public var element: String
        public var index: Int
        public var old: String?
        public var new: String
    }

    /// Tracks every fetched source of `element` and writes the new refs.
    public func track(_ element: ElementDefinition) async throws -> [Change] {
        guard element.projectRoot == project.root else {
            throw ProjectError("\(element.name) belongs to the subproject '\(element.projectName)': track it in that project (\(element.projectRoot))")
        }
        var changes: [Change] = []
        for source in element.sources where source.isFetched {
            let place = "\(source.location): \(source.kindName) source of \(element.name)"
            let newRef: String
            switch source.kind {
            case .remote(let urls, _, _), .tar(let urls, _):
                let work = try cache.scratch("track")
                defer { try? FileManager.default.removeItem(atPath: work) }
                newRef = try await Self.sha256(of: urls.last!, into: work, at: place)
            case .git(let urls, let track, _):
                guard let track else { throw ProjectError("\(place): it has no 'track' branch to follow") }
                let (cache, url) = (cache, source.url!)
                newRef = try await BlockingWork.run { try GitMirror(cache: cache, url: url).resolve(track, urls: [urls.last!], at: place) }
            case .local, .patch:
                continue
            }
            if newRef != source.ref {
                changes.append(Change(element: element.name, index: source.index, old: source.ref, new: newRef))
            }
        }
        if !changes.isEmpty { try write(changes, of: element) }
        return changes
    }

    /// The sha256 of what `url` serves now (tracking follows the alias's own URL, not mirrors).
    static func sha256(of url: String, into directory: String, at place: String) async throws -> String {
        let file = directory + "/download"
        do {
            try await SourceFetcher.download(url, to: file)
        } catch {
            throw ProjectError("\(place): cannot download \(url): \(error)")
        }
        return try await BlockingWork.run { try Digest(data: Data(contentsOf: URL(fileURLWithPath: file), options: .alwaysMapped)).hash }
    }

    private func write(_ changes: [Change], of element: ElementDefinition) throws {
        switch project.refStorage {
        case .inline: try writeInline(changes, of: element)
        case .projectRefs: try writeProjectRefs(changes, of: element)
        }
    }

    private func writeInline(_ changes: [Change], of element: ElementDefinition) throws {
        let path = project.elementDirectory + "/" + element.name
        var lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
        // Edit from the last source up, so earlier line numbers stay right.
        for change in changes.sorted(by: { $0.index > $1.index }) {
            let source = element.sources[change.index]
            guard source.location.hasPrefix(element.file + ":") else {
                throw ProjectError("\(source.location): this source comes from an include or a default; set its ref there by hand (\(change.new))")
            }
            let position = source.location.split(separator: ":").compactMap { Int($0) }
            guard position.count == 2 else { throw ProjectError("\(source.location): cannot find the source in \(element.file)") }
            let (first, column) = (position[0] - 1, position[1] - 1)
            let indent = String(repeating: " ", count: column)
            // The source's lines: from its first key to the next line indented less or at a new item.
            var end = first + 1
            while end < lines.count {
                let line = lines[end]
                let leading = line.prefix(while: { $0 == " " }).count
                if !line.trimmingCharacters(in: .whitespaces).isEmpty && leading < column { break }
                end += 1
            }
            while end > first + 1, lines[end - 1].trimmingCharacters(in: .whitespaces).isEmpty { end -= 1 }
            let range = first..<end
            if let refLine = range.first(where: { index in
                let line = lines[index]
                let body = index == first ? String(line.dropFirst(column)) : line
                return body.hasPrefix(index == first ? "ref:" : indent + "ref:")
            }) {
                let prefix = String(lines[refLine].prefix(while: { $0 != "r" }))
                lines[refLine] = prefix + "ref: " + change.new
            } else {
                lines.insert(indent + "ref: " + change.new, at: range.upperBound)
            }
        }
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// `project.refs` rewritten with the new refs: `projects: PROJECT: ELEMENT: [{ref: …}, …]`.
    private func writeProjectRefs(_ changes: [Change], of element: ElementDefinition) throws {
        let path = project.root + "/project.refs"
        var refs: [String: [String: [[String: String]]]] = [:]
        if let existing = project.projectRefs?["projects"] {
            for (projectName, elements) in try existing.mapping("'projects'") {
                for (name, list) in try elements.mapping("'\(projectName)'") {
                    refs[projectName, default: [:]][name] = try list.sequence(name).map { item throws(ProjectError) in try item.stringMap("a ref") }
                }
            }
        }
        var list = refs[project.name]?[element.name] ?? []
        for change in changes {
            while list.count <= change.index { list.append([:]) }
            list[change.index]["ref"] = change.new
        }
        refs[project.name, default: [:]][element.name] = list
        var text = "# Refs of this project's sources, written by lazycas source track (BuildStream's project.refs format).\nprojects:\n"
        for projectName in refs.keys.sorted() {
            text += "  \(projectName):\n"
            for name in refs[projectName]!.keys.sorted() {
                text += "    \(name):\n"
                for item in refs[projectName]![name]! {
                    if item.isEmpty { text += "    - {}\n"; continue }
                    for (offset, key) in item.keys.sorted().enumerated() {
                        text += (offset == 0 ? "    - " : "      ") + "\(key): \(item[key]!)\n"
                    }
                }
            }
        }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
