import Glibc

extension ActionSpec {
    /// Creates the directories leading up to every output path (not the outputs themselves),
    /// as REAPI asks of a worker: "Directories leading up to the output files are created by the
    /// worker prior to execution, even if they are not explicitly part of the input root."
    /// Bazel relies on it (`bazel-out/k8-fastbuild/bin/…` is not in its input roots).
    ///
    /// A path whose parent exists as anything but a directory — a file, or a symlink, which
    /// could lead out of the input root — is refused.
    /// - Parameters:
    ///   - root: the staged input root.
    ///   - owner: who the created directories belong to (the sandbox user), nil for us.
    public func createOutputParents(in root: String, owner: SandboxUser?) throws(SandboxError) {
        var created = Set<String>()
        for output in outputs {
            let inRoot = command.workingDirectory.isEmpty ? output : command.workingDirectory + "/" + output
            guard let parts = OutputCapture.normalized(inRoot) else {
                throw SandboxError("output path '\(output)' leaves the input root")
            }
            var path = root
            for part in parts.dropLast() {
                path += "/" + part
                guard created.insert(path).inserted else { continue }
                var st = stat()
                if lstat(path, &st) == 0 {
                    guard st.st_mode & S_IFMT == S_IFDIR else {
                        throw SandboxError("cannot create the directories leading to output '\(output)': '\(path.dropFirst(root.count + 1))' is \(st.st_mode & S_IFMT == S_IFLNK ? "a symlink" : "not a directory") in the input root")
                    }
                    continue
                }
                guard mkdir(path, 0o755) == 0 else {
                    throw SandboxError("cannot create directory '\(path.dropFirst(root.count + 1))' for output '\(output)': \(String(cString: strerror(errno)))")
                }
                if let owner { chown(path, owner.uid, owner.gid) }
            }
        }
    }
}
