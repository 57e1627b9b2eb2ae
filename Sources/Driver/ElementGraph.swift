import Foundation
import LocalCAS

/// The elements a build needs, loaded from their targets, with the orders BuildStream stages
/// and builds them in.
///
/// Loading follows every dependency, checks that each exists, and refuses cycles (printing the
/// cycle). Orders are deterministic: dependencies come before dependents, siblings in the order
/// they are declared.
public struct ElementGraph: Sendable {
    public let project: Project
    /// The requested targets, in the order given.
    public let targets: [String]
    /// Every element reachable from the targets, by name.
    public let elements: [String: ElementDefinition]
    /// Every element reachable from the targets, dependencies first.
    public let order: [String]

    /// Loads `targets` and everything they depend on.
    /// - Throws: `.invalidArgument` for an unknown element (naming where it is referenced), a
    ///   broken element file, or a dependency cycle.
    public init(project: Project, targets: [String]) throws(ProjectError) {
        self.project = project
        self.targets = targets
        var elements: [String: ElementDefinition] = [:]
        var order: [String] = []
        var state: [String: Bool] = [:]  // false: on the current path; true: done
        var path: [String] = []

        func visit(_ name: String, referencedAt location: String?) throws(ProjectError) {
            if state[name] == true { return }
            if state[name] == false {
                let cycle = path[path.firstIndex(of: name)!...] + [name]
                throw ProjectError("dependency cycle: \(cycle.joined(separator: " -> "))")
            }
            let file = project.elementDirectory + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue else {
                let place = location.map { "\($0): " } ?? ""
                throw ProjectError("\(place)no element '\(name)' (\(project.displayPath(of: name)) does not exist)")
            }
            let element = try ElementDefinition(name: name, project: project)
            state[name] = false
            path.append(name)
            for dep in element.dependencies {
                try visit(dep.name, referencedAt: dep.location)
            }
            path.removeLast()
            state[name] = true
            elements[name] = element
            order.append(name)
        }
        for target in targets {
            try ElementDefinition.validateName(target, at: "target")
            try visit(target, referencedAt: nil)
        }
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

    /// What is staged at `/` when `name` builds: its build dependencies, each with its runtime
    /// closure, in staging order (later ones win where they overlap).
    public func buildClosure(of name: String) -> [String] {
        guard let element = elements[name] else { return [] }
        return runtimeClosure(of: element.dependencies.filter(\.build).map(\.name))
    }
}
