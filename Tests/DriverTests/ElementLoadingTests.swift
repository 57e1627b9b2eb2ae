import Driver
import Foundation
import LocalCAS
import TestSupport
import Testing

/// Project and element files: what loads, and the one-line errors for what does not.
@Suite struct ElementLoadingTests {
    func project(_ elements: [String: String], conf: String = "name: t\nmin-version: 2.0\nelement-path: elements\n") throws -> DriverHarness {
        let h = try DriverHarness(empty: ())
        h.write("project.conf", conf)
        for (name, text) in elements { h.write("elements/" + name, text) }
        return h
    }

    func loadError(_ h: DriverHarness, _ targets: [String]) -> String {
        do {
            _ = try ElementGraph(project: try h.project, targets: targets)
            return "loaded"
        } catch {
            return "\(error)"
        }
    }

    @Test func theExamplesProjectLoadsInDependencyOrderWithBuildStreamStaging() throws {
        let h = try DriverHarness.examples()
        let graph = try ElementGraph(project: try h.project, targets: ["world.bst"])
        #expect(graph.order == ["base.bst", "hello.bst", "greetings.bst", "docs.bst", "world.bst"])
        // greetings build-depends on hello, which brings its runtime closure (base) first.
        #expect(graph.buildClosure(of: "greetings.bst") == ["base.bst", "hello.bst"])
        #expect(graph.runtimeClosure(of: ["world.bst"]) == ["base.bst", "hello.bst", "greetings.bst", "docs.bst", "world.bst"])
        let hello = graph.elements["hello.bst"]!
        #expect(hello.kind == .manual)
        #expect(hello.buildRoot == "/buildstream/hello/hello.bst", "BuildStream 2 names the build root after the element file")
        #expect(hello.installRoot == "/buildstream-install")
        #expect(hello.commands.contains("cp hello /buildstream-install/usr/bin/hello"))
        #expect(hello.environment["GREETING"] == "Hello")
        #expect(hello.environment["PATH"] == "/usr/bin:/bin:/usr/sbin:/sbin")
    }

    @Test func aYAMLSyntaxErrorNamesTheFileAndLine() throws {
        let h = try project(["a.bst": "kind: manual\nconfig:\n  build-commands: [unclosed\n"])
        let message = loadError(h, ["a.bst"])
        #expect(message.hasPrefix("elements/a.bst:"), "\(message)")
        #expect(message.contains(":4:") || message.contains(":3:"), "\(message)")
    }

    @Test func anUnknownKeyOrKindIsRefusedWithItsLine() throws {
        let h = try project(["a.bst": "kind: manual\nbuild-depend:\n- b.bst\n", "c.bst": "kind: nosuchkind\n"])
        let unknownKey = loadError(h, ["a.bst"])
        #expect(unknownKey.contains("elements/a.bst:3:"), "\(unknownKey)")
        #expect(unknownKey.contains("unknown key 'build-depend'"))
        #expect(loadError(h, ["c.bst"]).contains("elements/c.bst:1:7: element kind 'nosuchkind' is unknown"))
    }

    @Test func aMissingDependencyIsReportedWhereItIsDeclared() throws {
        let h = try project(["a.bst": "kind: stack\ndepends:\n- b.bst\n- nope.bst\n", "b.bst": "kind: stack\n"])
        let message = loadError(h, ["a.bst"])
        #expect(message == "elements/a.bst:4:3: no element 'nope.bst' (elements/nope.bst does not exist)", "\(message)")
        #expect(loadError(h, ["zzz.bst"]).contains("no element 'zzz.bst'"))
    }

    @Test func aDependencyCycleIsPrinted() throws {
        let h = try project([
            "a.bst": "kind: stack\ndepends: [b.bst]\n",
            "b.bst": "kind: stack\ndepends: [c.bst]\n",
            "c.bst": "kind: stack\ndepends: [a.bst]\n",
        ])
        #expect(loadError(h, ["a.bst"]) == "dependency cycle: a.bst -> b.bst -> c.bst -> a.bst")
    }

    @Test func aMissingSourcePathAndAnUndefinedVariableAreErrors() throws {
        let h = try project([
            "src.bst": "kind: import\nsources:\n- kind: local\n  path: files/none\n",
            "var.bst": "kind: manual\nconfig:\n  build-commands:\n  - echo %{nosuch}\n",
            "esc.bst": "kind: import\nsources:\n- kind: local\n  path: ../outside\n",
        ])
        #expect(loadError(h, ["src.bst"]).contains("elements/src.bst:4:9: source path 'files/none' does not exist"))
        #expect(loadError(h, ["var.bst"]) == "elements/var.bst: undefined variable 'nosuch'")
        #expect(loadError(h, ["esc.bst"]).contains("must be relative to the project and stay inside it"))
    }

    @Test func stackDependenciesMustBeBothBuildAndRuntime() throws {
        let h = try project(["s.bst": "kind: stack\nbuild-depends: [b.bst]\n", "b.bst": "kind: stack\n"])
        #expect(loadError(h, ["s.bst"]).contains("every dependency of a stack element must be in 'depends'"))
    }

    @Test func projectConfErrorsNameTheKey() throws {
        let missingVersion = try project([:], conf: "name: t\n")
        #expect(throws: ProjectError.self) { try missingVersion.project }
        let typo = try project([:], conf: "name: t\nmin-version: 2.0\nelemnt-path: x\n")
        do {
            _ = try typo.project
            Issue.record("a typo in project.conf loaded")
        } catch {
            #expect("\(error)".contains("project.conf:3:14: unknown key 'elemnt-path'"), "\(error)")
        }
    }

    @Test func variablesExpandRecursivelyWithElementOverrides() throws {
        let h = try project(["v.bst": "kind: manual\nvariables:\n  prefix: /opt\n  x: '%{bindir}/x'\nconfig:\n  install-commands: ['echo %{x} %{element-name}']\n"],
                            conf: "name: t\nmin-version: 2.0\nelement-path: elements\nvariables:\n  bindir: '%{prefix}/b'\n")
        let element = try ElementGraph(project: try h.project, targets: ["v.bst"]).elements["v.bst"]!
        #expect(element.commands == ["echo /opt/b/x v.bst"])
    }
}

/// Working out what an element name stands for stores nothing; handing out a tree stores it.
@Suite struct PlanningTests {
    @Test func resolvingAnElementThatWasNeverBuiltStoresNothing() throws {
        let h = try DriverHarness.examples()
        let resolver = ArtifactResolver(project: try h.project, store: h.store)
        #expect(throws: CASError.self) { try resolver.artifact(of: "hello.bst") }
        #expect(h.store.allDigests().isEmpty, "sources were hashed, not stored: \(h.store.allDigests().count) blobs")
    }

    @Test func anImportElementHandedOutIsCompleteLocally() throws {
        let h = try DriverHarness.examples()
        let artifact = try ArtifactResolver(project: try h.project, store: h.store).artifact(of: "base.bst")
        let tree = try LocalTree(store: h.store).digests(under: artifact.root)
        #expect(tree.files.count > 0)
        #expect(h.store.missing(tree.files).isEmpty, "its source files are in the local CAS")
    }
}
