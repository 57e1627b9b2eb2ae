import Driver
import Foundation
import LocalCAS
import TestSupport
import Testing

/// BuildStream 2.8's project format: options and conditionals, includes, list composition,
/// per-kind defaults and overrides, plugin declarations, and the buildstream-plugins build
/// elements' default commands — each with its bad inputs.
@Suite struct ProjectFormatTests {
    static let plugins = """
        plugins:
        - origin: pip
          package-name: buildstream-plugins
          elements: [autotools, cmake, make, meson, pip, setuptools]
          sources: [git, patch]

        """

    func harness(conf: String, _ elements: [String: String], files: [String: String] = [:]) throws -> DriverHarness {
        let h = try DriverHarness(empty: ())
        h.write("project.conf", "name: fmt\nmin-version: 2.0\nelement-path: elements\n" + conf)
        try FileManager.default.createDirectory(atPath: h.projectRoot + "/elements", withIntermediateDirectories: true)
        for (name, text) in elements { h.write("elements/" + name, text) }
        for (name, text) in files { h.write(name, text) }
        return h
    }

    func element(_ h: DriverHarness, _ name: String, options: [(String, String)] = []) throws -> ElementDefinition {
        let project = try Project(root: h.projectRoot, options: options)
        return try ElementGraph(project: project, targets: [name]).elements[name]!
    }

    @Test func optionsSwitchVariablesThroughConditionalsAndTheCommandLine() throws {
        let h = try harness(conf: """
            options:
              debug:
                type: bool
                description: build for debugging
                default: false
                variable: debugging
              flavour:
                type: enum
                description: which flavour
                values: [plain, fancy]
                default: plain
              extras:
                type: flags
                description: extra parts
                values: [docs, tests]
              target_arch:
                type: arch
                description: the machine
                values: [x86-64, aarch64]
            variables:
              cflags: -O2
              (?):
              - debug:
                  cflags: -O0 -g
              - flavour == "fancy" and "docs" in extras:
                  cflags: -O3 -fancy

            """, ["a.bst": "kind: manual\nconfig:\n  build-commands:\n  - echo %{cflags} %{debugging}\n  (?):\n  - target_arch == 'x86-64' or target_arch == 'aarch64':\n      install-commands: [echo known-arch]\n"])
        #expect(try element(h, "a.bst").commands == ["echo -O2 0", "echo known-arch"])
        #expect(try element(h, "a.bst", options: [("debug", "true")]).commands.first == "echo -O0 -g 1")
        #expect(try element(h, "a.bst", options: [("flavour", "fancy"), ("extras", "docs,tests")]).commands.first == "echo -O3 -fancy 0")
        #expect(try element(h, "a.bst", options: [("flavour", "fancy")]).commands.first == "echo -O2 0")

        let badValue = failure { _ = try element(h, "a.bst", options: [("flavour", "odd")]) }
        #expect(badValue.contains("invalid value for enum option 'flavour': odd (valid: plain, fancy)"), "\(badValue)")
        let unknown = failure { _ = try element(h, "a.bst", options: [("nosuch", "1")]) }
        #expect(unknown.contains("unknown option 'nosuch'"), "\(unknown)")
        let badBool = failure { _ = try element(h, "a.bst", options: [("debug", "maybe")]) }
        #expect(badBool.contains("invalid value for boolean option 'debug'"), "\(badBool)")
    }

    @Test func aBrokenConditionNamesItsLine() throws {
        let h = try harness(conf: "options:\n  debug: {type: bool, description: d, default: false}\n",
                            ["a.bst": "kind: stack\n(?):\n- debug ==:\n    description: x\n",
                             "b.bst": "kind: stack\n(?):\n- nosuch:\n    description: x\n",
                             "c.bst": "kind: stack\n(!): this element is not for you\n"])
        #expect(failure { _ = try element(h, "a.bst") }.contains("elements/a.bst:3:3: cannot evaluate condition 'debug =='"))
        #expect(failure { _ = try element(h, "b.bst") }.contains("'nosuch' is not an option of this project"))
        #expect(failure { _ = try element(h, "c.bst") } == "elements/c.bst:2:6: this element is not for you")
        let restricted = try harness(conf: "options:\n  debug: {type: bool, description: d, default: false}\n(?):\n- debug:\n    name: other\n", [:])
        #expect(failure { _ = try Project(root: restricted.projectRoot) }.contains("'name' cannot be set conditionally"))
    }

    @Test func includesComposeUnderTheFileThatIncludesThem() throws {
        let h = try harness(conf: "(@): include/common.yml\nvariables:\n  mine: project\n", [
            "a.bst": "kind: manual\n(@): include/steps.yml\nconfig:\n  install-commands:\n    (>):\n    - echo %{shared} %{mine}\n",
        ], files: [
            "include/common.yml": "variables:\n  shared: from-include\n  mine: overridden-by-project\n",
            "include/steps.yml": "config:\n  install-commands:\n  - echo first\n",
            "include/loop.yml": "(@): include/loop.yml\n",
        ])
        #expect(try element(h, "a.bst").commands == ["echo first", "echo from-include project"])
        h.write("elements/b.bst", "kind: stack\n(@): include/loop.yml\n")
        #expect(failure { _ = try element(h, "b.bst") }.contains("includes itself"))
        h.write("elements/c.bst", "kind: stack\n(@): include/none.yml\n")
        #expect(failure { _ = try element(h, "c.bst") }.contains("included file 'include/none.yml' does not exist"))
    }

    @Test func listDirectivesPrependAppendAndReplace() throws {
        let h = try harness(conf: "elements:\n  manual:\n    config:\n      build-commands:\n        (<): [echo project-first]\n", [
            "a.bst": "kind: manual\nconfig:\n  build-commands:\n    (>): [echo element-last]\n",
            "b.bst": "kind: manual\nconfig:\n  build-commands:\n    (=): [echo only]\n",
            "c.bst": "kind: manual\nconfig:\n  configure-commandz:\n    (>): [echo typo]\n",
            "d.bst": "kind: manual\nvariables:\n  nolist:\n    (>): [x]\n",
        ])
        #expect(try element(h, "a.bst").commands == ["echo project-first", "echo element-last"])
        #expect(try element(h, "b.bst").commands == ["echo only"])
        #expect(failure { _ = try element(h, "c.bst") } == "elements/c.bst:4:10: '(>)' edits a list that does not exist")
        #expect(failure { _ = try element(h, "d.bst") }.contains("'nolist' in 'variables' must be a string"))
    }

    @Test func buildElementsHaveBuildStreamPluginsDefaultCommands() throws {
        let h = try harness(conf: Self.plugins + "elements:\n  autotools:\n    variables:\n      conf-local: --enable-magic\n", [
            "at.bst": "kind: autotools\n",
            "cm.bst": "kind: cmake\nvariables:\n  cmake-local: -DX=1\n",
            "mk.bst": "kind: make\n", "ms.bst": "kind: meson\n", "pp.bst": "kind: pip\n", "st.bst": "kind: setuptools\n",
        ])
        let autotools = try element(h, "at.bst")
        #expect(autotools.commands.count == 5)  // autogen, configure, make, make install, libtool cleanup (strip-binaries is empty)
        #expect(autotools.commands[1].contains("./configure --prefix=/usr"))
        #expect(autotools.commands[1].contains("--enable-magic"), "project.conf's elements: override")
        #expect(autotools.commands[3] == "make -j1  DESTDIR=\"/buildstream-install\" install", "\(autotools.commands[3])")
        #expect(autotools.environment["MAKEFLAGS"] == "-j4")
        #expect(autotools.environment["V"] == "1")
        let cmake = try element(h, "cm.bst")
        #expect(cmake.commands.first?.contains("cmake -B_builddir -H\".\" -G\"Ninja\"") == true, "\(cmake.commands)")
        #expect(cmake.commands.first?.contains("-DX=1") == true)
        #expect(try element(h, "mk.bst").commands.first == "make PREFIX=\"/usr\"")
        #expect(try element(h, "ms.bst").commands.first?.hasPrefix("meson setup . _builddir --prefix=/usr \\\n--bindir=/usr/bin") == true)
        #expect(try element(h, "pp.bst").commands.first?.hasPrefix("pip install --no-deps --root=/buildstream-install --prefix=/usr") == true)
        #expect(try element(h, "st.bst").commands.first == "python3 ./setup.py build")
    }

    @Test func pluginKindsMustBeDeclaredAndOtherPluginsAreNamed() throws {
        let undeclared = try harness(conf: "", ["a.bst": "kind: autotools\n"])
        #expect(failure { _ = try element(undeclared, "a.bst") }.contains("element kind 'autotools' comes from buildstream-plugins: declare it"))
        let community = try harness(conf: "plugins:\n- origin: pip\n  package-name: buildstream-plugins-community\n  elements: [collect_manifest]\n", [:])
        #expect(failure { _ = try Project(root: community.projectRoot) }.contains("plugin element 'collect_manifest' from pip package 'buildstream-plugins-community' is not supported"))
        let local = try harness(conf: "plugins:\n- origin: local\n  path: plugins\n  elements: [mine]\n", [:])
        #expect(failure { _ = try Project(root: local.projectRoot) }.contains("plugin element 'mine' from origin 'local'"))
        let bzr = try harness(conf: "plugins:\n- origin: pip\n  package-name: buildstream-plugins\n  sources: [bzr]\n", [:])
        #expect(failure { _ = try Project(root: bzr.projectRoot) }.contains("buildstream-plugins source 'bzr' is not supported"))
    }

    @Test func protectedVariablesAndUnknownAliasesAreRefused() throws {
        let h = try harness(conf: "aliases:\n  up: https://example.org/\n", [
            "a.bst": "kind: manual\nvariables:\n  max-jobs: '99'\n",
            "b.bst": "kind: import\nsources:\n- kind: tar\n  url: down:x.tar.gz\n  ref: \(String(repeating: "0", count: 64))\n",
            "c.bst": "kind: import\nsources:\n- kind: tar\n  url: up:x.tar.gz\n  ref: nothex\n",
        ])
        #expect(failure { _ = try element(h, "a.bst") }.contains("invalid redefinition of protected variable 'max-jobs'"))
        #expect(failure { _ = try element(h, "b.bst") }.contains("uses alias 'down', which project.conf's 'aliases' does not define"))
        #expect(failure { _ = try element(h, "c.bst") }.contains("ref 'nothex' of a tar source is not a sha256"))
    }

    @Test func integrationCommandsOfDependenciesRunBeforeTheBuild() throws {
        let h = try harness(conf: "", [
            "lib.bst": "kind: stack\npublic:\n  bst:\n    integration-commands:\n    - ldconfig %{libdir}\n",
            "app.bst": "kind: manual\nbuild-depends: [lib.bst]\nconfig:\n  build-commands: [make]\n",
        ])
        let graph = try ElementGraph(project: try Project(root: h.projectRoot), targets: ["app.bst"])
        #expect(graph.elements["lib.bst"]?.integrationCommands == ["ldconfig /usr/lib"])
        #expect(graph.elements["lib.bst"]?.splitRules["devel"]?.contains("/usr/include/**") == true)
    }
}
