import Foundation
import LocalCAS
import TestSupport
import Testing

/// `lazycas source fetch|track` and `-o NAME VALUE` through the real binary, on a project whose
/// option picks where an import element puts its tarball (a variable in the source's config).
@Suite struct SourceCLITests {
    let cli = CLI()

    /// A project with two tarballs upstream and an enum option choosing one; returns its root.
    func project() throws -> String {
        let root = cli.home.path + "/proj"
        let upstream = cli.home.path + "/upstream"
        for flavour in ["plain", "fancy"] {
            let dir = upstream + "/pkg-\(flavour)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data("\(flavour)\n".utf8).write(to: URL(fileURLWithPath: dir + "/flavour.txt"))
            _ = try runTool(["tar", "czf", "pkg-\(flavour).tar.gz", "pkg-\(flavour)"], in: upstream)
        }
        try FileManager.default.createDirectory(atPath: root + "/elements", withIntermediateDirectories: true)
        try """
            name: cli
            min-version: 2.0
            element-path: elements
            aliases:
              upstream: file://\(upstream)/
            options:
              flavour:
                type: enum
                description: which tarball
                values: [plain, fancy]
                default: plain
            variables:
              dest: plain-dir
              (?):
              - flavour == "fancy":
                  dest: fancy-dir
            """.write(toFile: root + "/project.conf", atomically: true, encoding: .utf8)
        try "kind: import\nsources:\n- kind: tar\n  url: upstream:pkg-plain.tar.gz\n".write(toFile: root + "/elements/plain.bst", atomically: true, encoding: .utf8)
        try "kind: import\nsources:\n- kind: tar\n  url: upstream:pkg-fancy.tar.gz\n  directory: '%{dest}'\n".write(toFile: root + "/elements/fancy.bst", atomically: true, encoding: .utf8)
        return root
    }

    @Test func trackFetchAndAnOptionPickWhatAnElementNameStandsFor() throws {
        let root = try project()
        let unfetched = try cli.run(["source", "fetch", "plain.bst"], in: root)
        #expect(unfetched.status == 1, "\(unfetched.stderr)")
        #expect(unfetched.stderr.contains("has no ref: run 'lazycas source track plain.bst'"), "\(unfetched.stderr)")

        let tracked = try cli.run(["source", "track", "plain.bst", "fancy.bst"], in: root)
        #expect(tracked.status == 0, "\(tracked.stderr)")
        #expect(tracked.stdout.contains("plain.bst source 0: (none) -> "), "\(tracked.stdout)")
        #expect(try String(contentsOfFile: root + "/elements/fancy.bst", encoding: .utf8).contains("\n  ref: "))

        let fetched = try cli.run(["source", "fetch", "plain.bst", "fancy.bst"], in: root)
        #expect(fetched.status == 0, "\(fetched.stderr)")
        #expect(fetched.stdout.contains("fetched 2 sources"), "\(fetched.stdout)")
        #expect(try cli.run(["source", "fetch", "plain.bst"], in: root).stdout.contains("fetched 0 sources"), "cached by ref")

        let plain = try cli.run(["cas", "cat", "plain.bst", "flavour.txt"], in: root)
        #expect(plain.stdout == "plain\n", "\(plain.stderr)")
        // -o as bst spells it, and the NAME=VALUE form; a bad value is a user error.
        let byDefault = try cli.run(["cas", "cat", "fancy.bst", "plain-dir/flavour.txt"], in: root)
        #expect(byDefault.stdout == "fancy\n", "\(byDefault.stderr)")
        let option = try cli.run(["-o", "flavour", "fancy", "cas", "cat", "fancy.bst", "fancy-dir/flavour.txt"], in: root)
        #expect(option.stdout == "fancy\n", "\(option.stderr)")
        let bad = try cli.run(["cas", "cat", "plain.bst", "flavour.txt", "-o", "flavour=odd"], in: root)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("invalid value for enum option 'flavour': odd (valid: plain, fancy)"), "\(bad.stderr)")
    }
}
