import Glibc
import LocalCAS
import Logging
import MountDaemon

// The mount daemon: serves the mount `lazycas mount` resolved and handed over in the
// environment (MountSpec), in a process that maps only what serving a mount needs.

let arguments = CommandLine.arguments.dropFirst()
if arguments.contains("--help") || arguments.contains("-h") {
    print("""
        USAGE: lazycas-mount

        The mount daemon of lazycas, started by `lazycas mount` (which resolves the tree and
        passes it in \(MountSpec.environmentKey)); run `lazycas mount --help` instead.
        """)
    exit(0)
}
let verbose = arguments.contains("--verbose")
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = verbose ? .debug : .warning
    return handler
}
// A healer that went away must not kill the mount when we write to it.
signal(SIGPIPE, SIG_IGN)
do {
    try await MountDaemon.serve(try MountSpec.takeFromEnvironment())
} catch let error as CASError {
    MountDaemon.note("lazycas: error: \(error.description)")
    exit(error.exitCode)
} catch {
    MountDaemon.note("lazycas: error: \(error)")
    exit(1)
}
