import Foundation
import LocalCAS

/// The elements a build needs, loaded from their targets, with the orders BuildStream stages
/// and builds them in.
///
/// Loading follows every dependency, through junctions (`sub.bst:hello.bst` is `hello.bst` of
/// the subproject `sub.bst` holds) and links (a `link` element stands for its target), checks
/// that each exists, and refuses cycles (printing the cycle). Orders are deterministic:
/// dependencies come before dependents, siblings in the order they are declared.
public struct ElementGraph: Sendable {
    public let project: Project
    /// The requested targets, as given, and as the graph names them (links resolved).
    public let targets: [String]
    public let resolvedTargets: [String]
    /// Every element reachable from the targets, by name (junction-qualified).
    public let elements: [String: ElementDefinition]
    /// Every element reachable from the targets, dependencies first.
    public let order: [String]

    /// Loads `targets` and everything they depend on.
    /// - Parameter sources: where junctions whose subproject comes from a `tar` or `git` source
    ///   find it (fetched); without it only `local` junction sources work.
    /// - Throws: ``ProjectError`` for an unknown element (naming where it is referenced), a
    ///   broken element file, a dependency cycle, or a junction whose sources are not fetched.
    public init(project: Project, targets: [String], sources: SourceCache? = nil) throws(ProjectError) {
        self.project = project
        self.targets = targets
        var loader = Subprojects(top: project, sources: sources)
        var elements: [String: ElementDefinition] = [:]
        var order: [String] = []
        var state: [String: Bool] = [:]  // false: on the current path; true: done
        var path: [String] = []
        var links: [String: String] = [:]

        /// Loads `name` (resolving links) and everything below it; returns its graph name.
        func visit(_ name: String, referencedAt location: String?, following: [String] = []) throws(ProjectError) -> String {
            if let target = links[name] { return target }
            if state[name] == true { return name }
            if state[name] == false {
                let cycle = path[path.firstIndex(of: name)!...] + [name]
                throw ProjectError("dependency cycle: \(cycle.joined(separator: " -> "))")
            }
            let element = try loader.element(name, referencedAt: location)
            if element.kind == .link, let target = element.linkTarget {
                guard !following.contains(name) else {
                    throw ProjectError("\(element.file): link cycle: \((following + [name]).joined(separator: " -> "))")
                }
                let qualified = String(name.dropLast(element.localName.count)) + target
                let resolved = try visit(qualified, referencedAt: element.file, following: following + [name])
                links[name] = resolved
                return resolved
            }
            if element.kind == .junction {
                let place = location.map { "\($0): " } ?? ""
                throw ProjectError("\(place)'\(name)' is a junction: name an element inside it ('\(name):ELEMENT.bst')")
            }
            state[name] = false
            path.append(name)
            var resolved = element
            resolved.dependencies = []
            for var dep in element.dependencies {
                dep.name = try visit(dep.name, referencedAt: dep.location)
                // Two names (a link and its target) for one element: one dependency of both kinds.
                if let same = resolved.dependencies.firstIndex(where: { $0.name == dep.name }) {
                    resolved.dependencies[same].build = resolved.dependencies[same].build || dep.build
                    resolved.dependencies[same].runtime = resolved.dependencies[same].runtime || dep.runtime
                } else {
                    resolved.dependencies.append(dep)
                }
            }
            path.removeLast()
            state[name] = true
            elements[name] = resolved
            order.append(name)
            return name
        }
        var resolvedTargets: [String] = []
        for target in targets {
            try ElementDefinition.validateQualifiedName(target, at: "target")
            resolvedTargets.append(try visit(target, referencedAt: nil))
        }
        self.resolvedTargets = resolvedTargets
        self.elements = elements
        self.order = order
    }

    /// `names` and, before each, everything it needs at run time, recursively, without repeats:
    /// what a dependent gets when it depends on them.
    public func runtimeClosure(of names: [String]) -> [String] {
        var result: [String] = []
        var seen: Set<String> = []
        func visit(_ name: String) {
            guard seen.insert(name).inserted, let element = elements[name] else { return }
            for dep in element.dependencies where dep.runtime { visit(dep.name) }
            result.append(name)
        }
        names.forEach(visit)
        return result
    }

    /// The integration commands staging `name` runs: its own, and for a `filter` with
    /// `pass-integration`, those of the element it filters first.
    public func integrationCommands(of name: String) -> [String] {
        guard let element = elements[name] else { return [] }
        guard element.kind == .filter, element.passIntegration, let dep = element.dependencies.first(where: \.build) else {
            return element.integrationCommands
        }
        return integrationCommands(of: dep.name) + element.integrationCommands
    }

    /// What is staged at `/` when `name` builds: its build dependencies, each with its runtime
    /// closure, in staging order (later ones win where they overlap).
    public func buildClosure(of name: String) -> [String] {
        guard let element = elements[name] else { return [] }
        return runtimeClosure(of: element.dependencies.filter(\.build).map(\.name))
    }
}

/// The projects of a graph: the top-level one and each subproject a junction holds, loaded
/// once, by junction prefix (`sub.bst:`, `sub.bst:inner.bst:`).
struct Subprojects {
    let top: Project
    let sources: SourceCache?
    private var projects: [String: Project] = [:]

    init(top: Project, sources: SourceCache?) {
        self.top = top
        self.sources = sources
        projects[""] = top
    }

    /// The element a graph name stands for, loaded from its project.
    mutating func element(_ name: String, referencedAt location: String?) throws(ProjectError) -> ElementDefinition {
        let parts = name.split(separator: ":").map(String.init)
        let prefix = parts.dropLast().map { $0 + ":" }.joined()
        let project = try self.project(prefix)
        let local = parts.last!
        let file = project.elementDirectory + "/" + local
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue else {
            let place = location.map { "\($0): " } ?? ""
            throw ProjectError("\(place)no element '\(name)' (\(prefix)\(project.displayPath(of: local)) does not exist)")
        }
        return try ElementDefinition(name: local, project: project, refs: project.refs(for: local), junction: prefix)
    }

    /// The project of junction prefix `prefix` (`""` for the top-level one).
    mutating func project(_ prefix: String) throws(ProjectError) -> Project {
        if let known = projects[prefix] { return known }
        let parts = prefix.split(separator: ":").map(String.init)
        let parentPrefix = parts.dropLast().map { $0 + ":" }.joined()
        let parent = try project(parentPrefix)
        let junctionName = parts.last!
        let junction = try element(parentPrefix + junctionName, referencedAt: nil)
        guard junction.kind == .junction, let config = junction.junction else {
            throw ProjectError("\(junction.file): '\(junctionName)' is used as a junction but is a \(junction.kind.rawValue) element")
        }
        let directory = try JunctionCheckout(sources: sources, parent: parent).directory(of: junction)
        let root = config.path.isEmpty ? directory : directory + "/" + config.path
        guard FileManager.default.fileExists(atPath: root + "/project.conf") else {
            throw ProjectError("\(junction.file): the junction's sources hold no project.conf\(config.path.isEmpty ? "" : " at '\(config.path)'")")
        }
        var aliasURLs: [String: String] = [:]
        for (alias, parentAlias) in config.aliases {
            guard let url = parent.aliases[parentAlias] else {
                throw ProjectError("\(junction.file): junction alias '\(alias)' maps to '\(parentAlias)', which \(parent.name)'s project.conf does not define")
            }
            aliasURLs[alias] = url
        }
        let subproject: Project
        do {
            subproject = try Project(root: root, options: config.options, optionsOrigin: "\(junction.file): config: options", aliasURLs: aliasURLs)
        } catch {
            throw ProjectError("\(junction.file): loading the subproject", cause: error)
        }
        projects[prefix] = subproject
        return subproject
    }
}
