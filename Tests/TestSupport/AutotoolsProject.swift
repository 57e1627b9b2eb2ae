import Foundation

/// A BuildStream project building a small GNU-style package from its release tarball with
/// buildstream-plugins' `autotools` element, on the toolchain sysroot `scripts/setup.sh` makes
/// (`.tools/sysroot`, imported as `sysroot.bst`).
///
/// The tarball is made here with Debian's autoconf and automake, as a release is: `configure`
/// and `Makefile.in` generated ahead and newer than `configure.ac` and `Makefile.am`, so that
/// `make` regenerates nothing — unless the inputs are staged with mtimes that say otherwise,
/// when it runs `automake-1.16`, which the sysroot lacks.
public struct AutotoolsProject: Sendable {
    public let directory: TemporaryDirectory
    public var root: String { directory.path + "/project" }
    /// What the built program prints.
    public static let greeting = "hello from an autotools build"

    public init() throws {
        directory = TemporaryDirectory("autotools")
        let package = directory.path + "/hello-1.0"
        try FileManager.default.createDirectory(atPath: package, withIntermediateDirectories: true)
        let files = [
            "configure.ac": "AC_INIT([hello], [1.0])\nAM_INIT_AUTOMAKE([foreign])\nAC_PROG_CC\nAC_CONFIG_FILES([Makefile])\nAC_OUTPUT\n",
            "Makefile.am": "bin_PROGRAMS = hello\nhello_SOURCES = hello.c\n",
            "hello.c": "#include <stdio.h>\nint main(void) { puts(\"\(Self.greeting)\"); return 0; }\n",
        ]
        for (name, text) in files { try Data(text.utf8).write(to: URL(fileURLWithPath: "\(package)/\(name)")) }
        try Self.run(["autoreconf", "-fi"], in: package)
        try FileManager.default.removeItem(atPath: package + "/autom4te.cache")
        // A release's order: sources, then aclocal.m4, then what is generated from both.
        let generated = try FileManager.default.contentsOfDirectory(atPath: package).map { "\(package)/\($0)" }
        try Self.run(["touch", "-d", "2020-01-03 00:00:00"] + generated + [package], in: package)
        try Self.run(["touch", "-d", "2020-01-01 00:00:00"] + files.keys.map { "\(package)/\($0)" }, in: package)
        try Self.run(["touch", "-d", "2020-01-02 00:00:00", package + "/aclocal.m4"], in: package)
        try Self.run(["tar", "czf", "hello-1.0.tar.gz", "hello-1.0"], in: directory.path)
        let sum = try Self.run(["sha256sum", "hello-1.0.tar.gz"], in: directory.path)
        let ref = String(sum.prefix(64))

        try FileManager.default.createDirectory(atPath: root + "/elements", withIntermediateDirectories: true)
        // Hard links: the sysroot is 200 MB and read only.
        try Self.run(["cp", "-al", TestEnvironment.toolsDir + "/sysroot", root + "/sysroot"], in: root)
        let texts = [
            "project.conf": """
                name: autotools-hello
                min-version: 2.0
                element-path: elements
                aliases:
                  tarballs: file://\(directory.path)/
                plugins:
                - origin: pip
                  package-name: buildstream-plugins
                  elements:
                  - autotools
                """,
            "elements/sysroot.bst": "kind: import\nsources:\n- kind: local\n  path: sysroot\n",
            "elements/hello.bst": """
                kind: autotools
                build-depends:
                - sysroot.bst
                sources:
                - kind: tar
                  url: tarballs:hello-1.0.tar.gz
                  ref: \(ref)
                """,
        ]
        for (name, text) in texts { try Data(text.utf8).write(to: URL(fileURLWithPath: "\(root)/\(name)")) }
    }

    /// Runs the program a checkout of `hello.bst` at `checkout` holds, and returns what it printed.
    public static func runHello(in checkout: String) throws -> String {
        try run([checkout + "/usr/bin/hello"], in: checkout)
    }

    @discardableResult
    private static func run(_ argv: [String], in directory: String) throws -> String {
        let result = try runTool(argv, in: directory)
        guard result.status == 0 else { throw TestSupportError("\(argv.joined(separator: " ")) failed:\n\(result.output)") }
        return result.output
    }
}
