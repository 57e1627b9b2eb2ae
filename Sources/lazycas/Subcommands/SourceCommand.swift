import ArgumentParser
import Driver
import Foundation
import LocalCAS

/// `lazycas source fetch|track ELEMENT…`: an element's sources, as `bst source` has them.
struct SourceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "source",
        abstract: "Fetch the sources of elements, or track them to their newest refs.",
        subcommands: [Fetch.self, Track.self]
    )

    /// Which elements a source command works on.
    struct Targets: ParsableArguments {
        @Argument(help: "Elements, relative to the project's element-path (e.g. hello.bst).") var elements: [String]
        @Option(name: [.customShort("C"), .long], help: "The project directory.") var directory: String?
        @Option(name: .long, help: "none: the elements named; all: them and everything they depend on.") var deps = "none"

        func validate() throws {
            if elements.isEmpty { throw ValidationError("name at least one element") }
            if !["none", "all"].contains(deps) { throw ValidationError("--deps must be none or all, got '\(deps)'") }
        }

        /// The elements to work on, dependencies first.
        func load(_ context: CommandContext) async throws -> (Project, [ElementDefinition]) {
            let project = try context.project(directory)
            let graph = try await ElementGraph.load(project: project, targets: elements, sources: try SourceCache(store: context.store))
            let names = deps == "all" ? graph.order : graph.order.filter(graph.resolvedTargets.contains)
            return (project, names.compactMap { graph.elements[$0] })
        }
    }

    struct Fetch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download the remote, tar and git sources of elements into the local cache.",
            discussion: """
                Each source is downloaded once (mirrors first, then the alias's URL), checked \
                against its ref, unpacked and kept in the local CAS as a tree keyed by its ref. \
                A source already fetched costs nothing. Exit 1 for a wrong checksum, a missing \
                ref or an unreachable URL, naming the element, the source and the URL.
                """)
        @OptionGroup var targets: Targets
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let context = try CommandContext(global: global, remote: nil)
            let (_, elements) = try await targets.load(context)
            let fetcher = SourceFetcher(cache: try SourceCache(store: context.store))
            var fetched = 0
            for element in elements {
                let count = try await fetcher.fetch(element)
                if count > 0 { Terminal.note("\(element.name): fetched \(count) source\(count == 1 ? "" : "s")") }
                fetched += count
            }
            print("fetched \(fetched) source\(fetched == 1 ? "" : "s")")
        }
    }

    struct Track: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find the newest ref of each source and write it where BuildStream keeps refs.",
            discussion: """
                remote and tar sources: the sha256 of what the URL serves now; git sources: the \
                commit their 'track' branch points at. The refs are written into the element \
                file (ref-storage: inline) or project.refs (ref-storage: project.refs).
                """)
        @OptionGroup var targets: Targets
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let context = try CommandContext(global: global, remote: nil)
            let (project, elements) = try await targets.load(context)
            let tracker = SourceTracker(project: project, cache: try SourceCache(store: context.store))
            for element in elements {
                for change in try await tracker.track(element) {
                    print("\(change.element) source \(change.index): \(change.old ?? "(none)") -> \(change.new)")
                }
            }
        }
    }
}
