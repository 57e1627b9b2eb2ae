import Driver
import Foundation
import LocalCAS
import TestSupport
import Testing

/// The core elements that assemble artifacts: `compose` (split domains, integration), `filter`
/// and `script` (dependencies at `config: location:`), built against `lazycas serve`.
@Suite(.enabled(if: TestEnvironment.casdTestsEnabled))
struct AssemblyElementTests {
    static let elements = [
        "lib.bst": """
            kind: manual
            depends: [base.bst]
            config:
              install-commands:
              - mkdir -p %{install-root}%{libdir} %{install-root}%{includedir} %{install-root}%{docdir}/x %{install-root}%{bindir}
              - echo lib > %{install-root}%{libdir}/libx.so.1
              - echo header > %{install-root}%{includedir}/x.h
              - echo doc > %{install-root}%{docdir}/x/README
              - echo tool > %{install-root}%{bindir}/xtool
              - echo orphan > %{install-root}/orphan.txt
            public:
              bst:
                integration-commands:
                - mkdir -p /etc && echo integrated > /etc/x.conf
            """,
        "runtime.bst": "kind: compose\nbuild-depends: [lib.bst]\nconfig:\n  include: [runtime]\n  include-orphans: false\n  integrate: true\n",
        "everything.bst": "kind: compose\nbuild-depends: [lib.bst]\nconfig:\n  integrate: false\n",
        "integrated.bst": "kind: compose\nbuild-depends: [lib.bst]\n",
        "devel.bst": "kind: filter\nbuild-depends: [lib.bst]\nconfig:\n  include: [devel]\n",
        "nodocs.bst": "kind: filter\nbuild-depends: [lib.bst]\nconfig:\n  exclude: [doc]\n  include-orphans: true\n  pass-integration: true\n",
        "image.bst": """
            kind: script
            build-depends:
            - base.bst
            - filename: nodocs.bst
              config:
                location: /sysroot
            variables:
              cwd: /sysroot
            config:
              commands:
              - mkdir -p %{install-root}
              - find . | sort > %{install-root}/listing
              - cat /etc/x.conf > %{install-root}/integrated-at-root || echo none > %{install-root}/integrated-at-root
            """,
        "badfilter.bst": "kind: filter\nbuild-depends: [lib.bst]\nconfig:\n  include: [nosuch]\n",
        "twofilter.bst": "kind: filter\nbuild-depends: [lib.bst, base.bst]\n",
    ]

    /// Every path of the tree `root` (directories too), from its Directory nodes.
    func paths(_ root: Digest, _ store: LocalContentStore, prefix: String = "") throws -> Set<String> {
        let directory = try store.directory(root)
        var result = Set(directory.files.map { prefix + $0.name.name } + directory.symlinks.map { prefix + $0.name.name })
        for sub in directory.directories {
            result.insert(prefix + sub.name.name)
            result.formUnion(try paths(sub.digest, store, prefix: prefix + sub.name.name + "/"))
        }
        return result
    }

    @Test func composeFilterAndScriptAssembleWhatBuildStreamWould() async throws {
        let h = try DriverHarness.withBase(Self.elements)
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let (summary, _, _) = try await h.build(["runtime.bst", "everything.bst", "integrated.bst", "devel.bst", "image.bst"], on: server.url)
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        guard summary.failed.isEmpty else { return }

        // Runtime domain only, no orphans; the integration's new file is kept.
        let runtime = try paths(summary.artifacts["runtime.bst"]!.root, h.store)
        #expect(runtime.contains("usr/lib/libx.so.1") && runtime.contains("usr/bin/xtool"), "\(runtime.sorted())")
        #expect(runtime.contains("etc/x.conf"), "added by the integration commands")
        #expect(!runtime.contains("usr/include/x.h") && !runtime.contains("usr/share/doc/x/README") && !runtime.contains("orphan.txt"))
        #expect(!runtime.contains("bin/busybox"), "base's files are orphans, and orphans are excluded")

        // No split and no integration: the staged dependencies, composed by reference (no action).
        let everything = try paths(summary.artifacts["everything.bst"]!.root, h.store)
        #expect(everything.isSuperset(of: ["usr/include/x.h", "orphan.txt", "bin/busybox"]))
        #expect(!everything.contains("etc/x.conf"))
        #expect(summary.artifacts["everything.bst"]?.action == nil)
        // Integrating (the default) with no split: the whole root after integration, and no
        // mount point the sandbox made.
        let integrated = try paths(summary.artifacts["integrated.bst"]!.root, h.store)
        #expect(integrated == everything.union(["etc", "etc/x.conf"]), "\(integrated.subtracting(everything).sorted())")

        #expect(try paths(summary.artifacts["devel.bst"]!.root, h.store) == ["usr", "usr/include", "usr/include/x.h"])

        // The script staged nodocs at /sysroot (its integration passed on but not run: not at /).
        let image = summary.artifacts["image.bst"]!
        let listingNode = try h.store.directory(image.root).files.first { $0.name.name == "listing" }
        #expect(listingNode != nil)
        let content = try server.read(listingNode!.digest)
        let listing = String(decoding: content, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(listing.contains("./usr/bin/xtool") && listing.contains("./orphan.txt") && !listing.contains("./usr/share/doc/x/README"), "\(listing)")
        let graph = try ElementGraph(project: try h.project, targets: ["nodocs.bst"])
        #expect(graph.integrationCommands(of: "nodocs.bst") == ["mkdir -p /etc && echo integrated > /etc/x.conf"], "pass-integration")
    }

    @Test func aFilterNamingAnUnknownDomainOrTwoDependenciesIsRefused() async throws {
        let h = try DriverHarness.withBase(Self.elements)
        do {
            _ = try ElementGraph(project: try h.project, targets: ["twofilter.bst"])
            Issue.record("a filter with two build dependencies loaded")
        } catch {
            #expect("\(error)".contains("a filter element must have exactly 1 build dependency, it has 2"), "\(error)")
        }
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let (summary, _, _) = try await h.build(["badfilter.bst"], on: server.url)
        #expect(summary.failed.first?.message.contains("unknown split domains nosuch") == true, "\(summary.failed)")
    }

    @Test func overlappingDependenciesWarnUnlessWhitelistedAndFailWhenOverlapsAreFatal() async throws {
        let overlapping: [String: String] = [
            "one.bst": "kind: import\nsources:\n- kind: local\n  path: files/one\n",
            "two.bst": "kind: import\nsources:\n- kind: local\n  path: files/two\n",
            "allowed.bst": "kind: import\nsources:\n- kind: local\n  path: files/two\npublic:\n  bst:\n    overlap-whitelist:\n    - '%{bindir}/*'\n",
            "both.bst": "kind: compose\nbuild-depends: [one.bst, two.bst]\nconfig:\n  integrate: false\n",
            "whitelisted.bst": "kind: compose\nbuild-depends: [one.bst, allowed.bst]\nconfig:\n  integrate: false\n",
        ]
        let h = try DriverHarness.withBase(overlapping)
        h.write("files/one/usr/bin/tool", "one\n")
        h.write("files/two/usr/bin/tool", "two\n")
        let server = try await TestServer.start(.lazycasServe)
        defer { Task { await server.stop() } }
        let (summary, _, events) = try await h.build(["both.bst", "whitelisted.bst"], on: server.url)
        #expect(summary.failed.isEmpty, "\(summary.failed)")
        let warnings = events.filter { $0.kind == .warning }
        #expect(warnings.map(\.element) == ["both.bst"], "\(warnings)")
        #expect(warnings.first?.message.contains("/usr/bin/tool: two.bst overlaps files previously staged by one.bst") == true)

        let conf = try String(contentsOfFile: h.projectRoot + "/project.conf", encoding: .utf8)
        h.write("project.conf", conf + "\nfatal-warnings:\n- overlaps\n")
        let (fatal, _, _) = try await h.build(["both.bst", "whitelisted.bst"], on: server.url, options: {
            var options = BuildOptions()
            options.keepGoing = true
            return options
        }())
        #expect(fatal.failed.map(\.element) == ["both.bst"], "\(fatal.failed)")
        #expect(fatal.failed.first?.message.contains("fatal-warnings") == true)
        #expect(fatal.artifacts["whitelisted.bst"] != nil)
    }
}
