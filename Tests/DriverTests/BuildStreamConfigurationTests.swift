import Driver
import Foundation
import LocalCAS
import RemoteCAS
import TestSupport
import Testing

/// How lazycas reads BuildStream's artifact names and user configuration, as BuildStream 2.8.1
/// does (`element.py`'s normal names, `_context.py`'s config, `_remotespec.py`'s remotes).
@Suite struct BuildStreamConfigurationTests {
    let key = String(repeating: "0123456789abcdef", count: 4)

    @Test func artifactNamesAreNormalizedAndParsedAsBuildStreamWritesThem() throws {
        #expect(BuildStreamArtifactName.normalName(of: "hello.bst") == "hello")
        #expect(BuildStreamArtifactName.normalName(of: "dir/foo.bst") == "dir-foo")
        #expect(BuildStreamArtifactName.normalName(of: "a b+c.bst") == "a_b_c")
        #expect(BuildStreamArtifactName.normalName(of: "x.y.bst") == "x.y")
        let name = try #require(BuildStreamArtifactName(parsing: "proj/dir/foo.bst/\(key)"))
        #expect(name.description == "proj/dir-foo/\(key)")
        #expect(name.urn == "urn:fdc:buildstream.build:2020:artifact:proj/dir-foo/\(key)")
        #expect(name.refPath(in: "/c") == "/c/artifacts/refs/proj/dir-foo/\(key)")
        #expect(BuildStreamArtifactName(parsing: "proj/hello/\(key.uppercased())") == nil, "keys are lowercase hex")
        #expect(BuildStreamArtifactName(parsing: "proj/hello/abc") == nil)
        #expect(BuildStreamArtifactName(parsing: "hello.bst") == nil)
        #expect(BuildStreamArtifactName(parsing: "/hello/\(key)") == nil)
    }

    func write(_ text: String, to name: String, in dir: TemporaryDirectory) throws -> String {
        let path = dir.path + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func theConfigurationIsFoundWhereBstLooksAndItsRemotesKeepBstsOrder() throws {
        let dir = TemporaryDirectory("bst-config")
        let home = dir.sub("home")
        let env = ["HOME": home, "XDG_CONFIG_HOME": dir.sub("config")]
        // Nothing written: BuildStream's defaults.
        let defaults = try BuildStreamConfiguration.load(environment: env)
        #expect(defaults.file == nil)
        #expect(defaults.cacheDirectory == home + "/.cache/buildstream")
        #expect(defaults.storageService == nil)

        _ = try write("cachedir: /elsewhere\n", to: "config/buildstream.conf", in: dir)
        #expect(try BuildStreamConfiguration.load(environment: env).cacheDirectory == "/elsewhere")
        _ = try write("cachedir: ~/bst2\n", to: "config/buildstream2.conf", in: dir)
        #expect(try BuildStreamConfiguration.load(environment: env).cacheDirectory == home + "/bst2", "buildstream2.conf comes first")

        try FileManager.default.createDirectory(atPath: dir.sub("certs"), withIntermediateDirectories: true)
        _ = try write("token-1\n", to: "certs/token", in: dir)
        let explicit = try write("""
            cachedir: ${XDG_CONFIG_HOME}/cache
            cache:
              storage-service: {url: "https://cas.example:11001", instance-name: main, auth: {server-cert: certs/ca.pem}}
            artifacts:
              servers:
              - url: http://global.example:11002
                type: index
              - url: http://global-blobs.example:11003
                type: storage
                auth: {access-token: certs/token}
            projects:
              hello:
                artifacts:
                  servers:
                  - url: http://hello.example:11004
            """, to: "explicit.conf", in: dir)
        let config = try BuildStreamConfiguration.load(explicitFile: explicit, environment: env)
        #expect(config.cacheDirectory == dir.path + "/config/cache")
        let storage = try #require(config.storageService)
        #expect(storage.instance == "main")
        #expect(storage.serverCert == dir.path + "/certs/ca.pem", "relative to the file that names it")
        let tls = try storage.configuration()
        #expect(tls.endpoint.usesTLS)
        #expect(tls.instance == "main")

        let projectRemote = try Self.projectRemote(in: dir)
        let recommended = [try #require(projectRemote)]
        let order = config.artifactRemotes(for: "hello", recommended: recommended).map(\.url)
        #expect(order == ["http://hello.example:11004", "http://global.example:11002", "http://global-blobs.example:11003", "http://recommended.example:1"])
        let blobs = config.artifactRemotes(for: "other", recommended: []).first { $0.isStorage }
        #expect(blobs?.url == "http://global-blobs.example:11003")
        #expect(try blobs?.configuration().accessToken == "token-1")

        let overriding = try write("artifacts:\n  override-project-caches: true\n  servers: [{url: 'http://only.example:1'}]\n", to: "override.conf", in: dir)
        #expect(try BuildStreamConfiguration.load(explicitFile: overriding, environment: env).artifactRemotes(for: "hello", recommended: recommended).map(\.url)
            == ["http://only.example:1"])
    }

    /// `artifacts:` of a project.conf (a list, paths relative to the project).
    static func projectRemote(in dir: TemporaryDirectory) throws -> BuildStreamRemoteSpec? {
        let root = dir.sub("project")
        try FileManager.default.createDirectory(atPath: root + "/elements", withIntermediateDirectories: true)
        try """
            name: hello
            min-version: 2.0
            element-path: elements
            artifacts:
            - url: http://recommended.example:1
              auth: {server-cert: keys/ca.pem}
            """.write(toFile: root + "/project.conf", atomically: true, encoding: .utf8)
        let project = try Project(root: root)
        #expect(project.artifactRemotes.first?.serverCert == root + "/keys/ca.pem")
        return project.artifactRemotes.first
    }

    @Test func brokenConfigurationsSayWhatAndWhere() throws {
        let dir = TemporaryDirectory("bst-config-bad")
        let env = ["HOME": dir.path]
        func error(_ text: String) throws -> String {
            let path = try write(text, to: "bad.conf", in: dir)
            return failure { _ = try BuildStreamConfiguration.load(explicitFile: path, environment: env) }
        }
        #expect(try error("artifacts:\n  servers:\n  - {url: 'http://a:1', type: both}\n").contains("bad.conf:3"), "the line of the bad type")
        #expect(try error("artifacts:\n  servers:\n  - {url: 'http://a:1', type: both}\n").contains("'type' must be index, storage or all"))
        #expect(try error("cache:\n  storage-service: {url: 'http://a:1', auth: {client-key: k}}\n").contains("both 'client-key' and 'client-cert'"))
        #expect(try error("cachedir: relative/dir\n").contains("absolute"))
        #expect(try error("artifacts:\n  servers:\n  - {instance-name: x}\n").contains("needs a 'url'"))
        #expect(failure { _ = try BuildStreamConfiguration.load(explicitFile: dir.path + "/missing.conf", environment: env) }.contains("does not exist"))
        let tokenless = try write("artifacts:\n  servers:\n  - {url: 'http://a:1', auth: {access-token: nope}}\n", to: "t.conf", in: dir)
        let spec = try #require(try BuildStreamConfiguration.load(explicitFile: tokenless, environment: env).artifactRemotes(for: "p", recommended: []).first)
        #expect(failure { _ = try spec.configuration() }.contains("cannot read the access token file"))
        let badURL = try write("artifacts:\n  servers:\n  - {url: 'ftp://a:1'}\n", to: "u.conf", in: dir)
        let ftp = try #require(try BuildStreamConfiguration.load(explicitFile: badURL, environment: env).artifactRemotes(for: "p", recommended: []).first)
        #expect(failure { _ = try ftp.configuration() }.contains("u.conf:3"))
    }
}
