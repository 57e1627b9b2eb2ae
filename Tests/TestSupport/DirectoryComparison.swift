import Foundation

/// Runs a command to completion and returns its status and combined output (for `diff -r`,
/// `tar -x`, BuildStream and the like in tests), as ``SpawnedProcess`` starts it: no signal of
/// ours blocked, no descriptor of ours inherited. Blocks the calling thread.
public func runTool(_ argv: [String], in directory: String? = nil, environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
    let output = FileManager.default.temporaryDirectory.path + "/tool-\(UUID().uuidString).log"
    defer { try? FileManager.default.removeItem(atPath: output) }
    let process = try SpawnedProcess(argv, output: output, environment: environment, in: directory)
    let status = process.waitUntilExit()
    return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
}

/// Differences between two directory trees, content (`diff -r`, symlinks compared as links)
/// and the executable bit of every regular file; empty when they are the same.
public func treeDifferences(_ a: String, _ b: String) throws -> String {
    var problems: [String] = []
    let diff = try runTool(["diff", "-r", "--no-dereference", a, b])
    if diff.status != 0 { problems.append(String(diff.output.prefix(2000))) }
    let fm = FileManager.default
    for relative in (fm.enumerator(atPath: a)?.allObjects as? [String] ?? []).sorted() {
        var sa = stat(), sb = stat()
        guard lstat(a + "/" + relative, &sa) == 0, lstat(b + "/" + relative, &sb) == 0 else { continue }
        if (sa.st_mode & S_IFMT) == S_IFREG && (sa.st_mode & 0o100) != (sb.st_mode & 0o100) {
            problems.append("executable bit of \(relative) differs")
        }
    }
    return problems.joined(separator: "\n")
}

/// Runs BuildStream non-interactively with its XDG directories under `work`.
public func runBuildStream(_ arguments: [String], work: TemporaryDirectory) throws -> (Int32, String) {
    let result = try runTool([TestEnvironment.bstPath, "--no-interactive"] + arguments,
                             environment: ["XDG_CACHE_HOME": work.sub("xdg-cache"), "XDG_CONFIG_HOME": work.sub("xdg-config")])
    return (result.status, result.output)
}

/// Writes a BuildStream user config with its cache, logs and sources under `work` and, with
/// `remote` (an `http://HOST:PORT` or `https://` URL), every remote-execution service there,
/// each with `auth` (BuildStream's keys: `server-cert`, `client-cert`, `client-key`,
/// `access-token`, each a file); returns its path.
public func writeBuildStreamConfig(in work: TemporaryDirectory, remote: String, instance: String? = nil,
                                   auth: [String: String] = [:]) throws -> String {
    let config = work.path + "/buildstream.conf"
    let authText = auth.isEmpty ? "" : ", auth: {" + auth.sorted { $0.key < $1.key }.map { "\($0.key): \"\($0.value)\"" }.joined(separator: ", ") + "}"
    let service = "{url: \"\(remote)\"\(instance.map { ", instance-name: \($0)" } ?? "")\(authText)}"
    try """
        cachedir: \(work.sub("cache"))
        logdir: \(work.sub("logs"))
        sourcedir: \(work.sub("sources"))
        remote-execution:
          execution-service: \(service)
          storage-service: \(service)
          action-cache-service: \(service)
        """.write(toFile: config, atomically: true, encoding: .utf8)
    return config
}
