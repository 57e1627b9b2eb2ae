import Foundation
import Glibc

/// Where input roots are staged. A sandbox that runs as another user (``SandboxUser``) must be
/// able to reach its root: bwrap, already running as that user, resolves the path, so every
/// directory above it must be searchable by others. A storage directory under a private home
/// (`/root` is 0700) is not, so staging then moves to a private-but-searchable (0711)
/// directory under /tmp; hard links still work when that is the same filesystem, else inputs
/// are copied.
public enum SandboxWorkspace {
    /// `preferred` if the sandbox user can reach it (or none is used), else a fresh directory
    /// under /tmp.
    public static func choose(preferred: String, user: SandboxUser?) throws -> String {
        try FileManager.default.createDirectory(atPath: preferred, withIntermediateDirectories: true)
        guard user != nil, !searchableByOthers(preferred) else { return preferred }
        var template = Array("/tmp/lazycas-sandbox.XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw SandboxError("cannot create a staging directory under /tmp: \(String(cString: strerror(errno)))")
        }
        let path = String(cString: template)
        chmod(path, 0o711)
        return path
    }

    /// Whether `path` and every directory above it can be searched by any user.
    static func searchableByOthers(_ path: String) -> Bool {
        var current = URL(fileURLWithPath: path).standardizedFileURL.path
        while true {
            var st = stat()
            guard stat(current, &st) == 0, st.st_mode & S_IXOTH != 0 else { return false }
            if current == "/" { return true }
            current = (current as NSString).deletingLastPathComponent
        }
    }
}
