import Driver
import Foundation
import LocalCAS
import TestSupport
import Testing

/// Junctions (a subproject from a `local` or `tar` source, its options set by the parent,
/// elements named `sub.bst:elem.bst`) and links.
@Suite struct JunctionTests {
    /// A parent project with a subproject next to it, and that subproject as a tarball.
    struct Fixture {
        let h = try! DriverHarness(empty: ())
        var tarRef = ""

        init() throws {
            let sub = h.projectRoot + "/subproject"
            h.write("subproject/project.conf", """
                name: sub
                min-version: 2.0
                element-path: elements
                options:
                  flavour:
                    type: enum
                    description: where the greeting goes
                    values: [plain, fancy]
                    default: plain
                variables:
                  dest: plain-dir
                  (?):
                  - flavour == "fancy":
                      dest: fancy-dir
                """)
            h.write("subproject/files/greeting.txt", "hello from the subproject\n")
            h.write("subproject/elements/greet.bst", "kind: import\nsources:\n- kind: local\n  path: files\n  directory: '%{dest}'\n")
            h.write("subproject/elements/alias.bst", "kind: link\nconfig:\n  target: greet.bst\n")
            _ = try runTool(["tar", "czf", h.dir.path + "/sub.tar.gz", "-C", h.projectRoot, "subproject"])
            tarRef = Digest(data: try Data(contentsOf: URL(fileURLWithPath: h.dir.path + "/sub.tar.gz"))).hash

            h.write("project.conf", "name: top\nmin-version: 2.0\nelement-path: elements\naliases:\n  here: file://\(h.dir.path)/\n")
            h.write("elements/sub.bst", "kind: junction\nsources:\n- kind: local\n  path: subproject\nconfig:\n  options:\n    flavour: fancy\n")
            h.write("elements/subtar.bst", "kind: junction\nsources:\n- kind: tar\n  url: here:sub.tar.gz\n  ref: \(tarRef)\n")
            h.write("elements/mylink.bst", "kind: link\nconfig:\n  target: sub.bst:greet.bst\n")
            h.write("elements/top.bst", "kind: stack\ndepends:\n- sub.bst:greet.bst\n- filename: alias.bst\n  junction: subtar.bst\n- mylink.bst\n")
            h.write("elements/onjunction.bst", "kind: stack\ndepends: [sub.bst]\n")
            h.write("elements/loop1.bst", "kind: link\nconfig:\n  target: loop2.bst\n")
            h.write("elements/loop2.bst", "kind: link\nconfig:\n  target: loop1.bst\n")
            h.write("elements/missing.bst", "kind: stack\ndepends: [sub.bst:nosuch.bst]\n")
            _ = sub
        }

        var project: Project { get throws { try Project(root: h.projectRoot) } }
    }

    @Test func elementsOfSubprojectsAreNamedThroughTheirJunctionAndLinksResolve() async throws {
        let f = try Fixture()
        let graph = try await ElementGraph.load(project: try f.project, targets: ["top.bst"], sources: try SourceCache(store: f.h.store))
        #expect(graph.order == ["sub.bst:greet.bst", "subtar.bst:greet.bst", "top.bst"], "\(graph.order)")
        #expect(graph.elements["top.bst"]?.dependencies.map(\.name) == ["sub.bst:greet.bst", "subtar.bst:greet.bst"],
                "the link and the alias resolve; the same element twice is one dependency")
        let greet = graph.elements["sub.bst:greet.bst"]!
        #expect(greet.projectName == "sub" && greet.localName == "greet.bst")
        #expect(greet.buildRoot == "/buildstream/sub/greet.bst")

        // The junction's options are the subproject's: fancy through sub.bst, the default through subtar.bst.
        let resolver = ArtifactResolver(project: try f.project, store: f.h.store)
        let fancy = try resolver.artifact(of: "sub.bst:greet.bst")
        #expect(try f.h.store.directory(fancy.root).directories.map(\.name.name) == ["fancy-dir"])
        #expect(fancy.project == "sub" && fancy.element == "greet.bst")
        let plain = try resolver.artifact(of: "subtar.bst:greet.bst")
        #expect(try f.h.store.directory(plain.root).directories.map(\.name.name) == ["plain-dir"])
        #expect(try resolver.artifact(of: "mylink.bst").root == fancy.root, "a link stands for its target")
    }

    @Test func junctionMistakesAreErrorsNamingThem() throws {
        let f = try Fixture()
        let project = try f.project
        #expect(failure { _ = try ElementGraph(project: project, targets: ["onjunction.bst"]) }
            .contains("'sub.bst' is a junction: name an element inside it ('sub.bst:ELEMENT.bst')"))
        #expect(failure { _ = try ElementGraph(project: project, targets: ["loop1.bst"]) }.contains("link cycle: loop1.bst -> loop2.bst"))
        #expect(failure { _ = try ElementGraph(project: project, targets: ["missing.bst"]) }
            .contains("no element 'sub.bst:nosuch.bst' (sub.bst:elements/nosuch.bst does not exist)"))
        let unfetched = failure { _ = try ElementGraph(project: project, targets: ["subtar.bst:greet.bst"], sources: try SourceCache(store: f.h.store)) }
        #expect(unfetched.contains("the sources of junction subtar.bst are not fetched"), "\(unfetched)")
        f.h.write("elements/badopt.bst", "kind: junction\nsources:\n- kind: local\n  path: subproject\nconfig:\n  options:\n    flavour: odd\n")
        let badOption = failure { _ = try ElementGraph(project: project, targets: ["badopt.bst:greet.bst"]) }
        #expect(badOption.contains("elements/badopt.bst: config: options: invalid value for enum option 'flavour': odd"), "\(badOption)")
    }
}
