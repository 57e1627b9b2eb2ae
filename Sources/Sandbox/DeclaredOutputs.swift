import REAPI

extension ActionSpec {
    /// Holds captured outputs to what a v2.0 Command (`output_files` and `output_directories`,
    /// no `output_paths`) declared them to be: a declared file that is a directory, or a
    /// declared directory that is a file, makes the result FAILED_PRECONDITION (REAPI,
    /// `ActionResult.output_files` and `output_directories`); symlinks are listed in the v2.0
    /// fields too (`output_file_symlinks`, `output_directory_symlinks`), as servers compatible
    /// with v2.0 clients must. A v2.1 Command (`output_paths`) takes any kind.
    /// - Returns: why the outputs break the declaration, or nil.
    public func conform(_ outputs: inout OutputCapture.Outputs) -> String? {
        guard command.outputPaths.isEmpty else { return nil }
        let files = Set(command.outputFiles), directories = Set(command.outputDirectories)
        if let wrong = outputs.directories.first(where: { files.contains($0.path) }) {
            return "output file '\(wrong.path)' is a directory"
        }
        if let wrong = outputs.files.first(where: { directories.contains($0.path) }) {
            return "output directory '\(wrong.path)' is a file"
        }
        outputs.fileSymlinks = outputs.symlinks.filter { files.contains($0.path) }
        outputs.directorySymlinks = outputs.symlinks.filter { directories.contains($0.path) }
        return nil
    }
}

extension OutputCapture.Outputs {
    /// Puts the outputs into `result`.
    public func fill(_ result: inout Build_Bazel_Remote_Execution_V2_ActionResult) {
        result.outputFiles = files
        result.outputDirectories = directories
        result.outputSymlinks = symlinks
        result.outputFileSymlinks = fileSymlinks
        result.outputDirectorySymlinks = directorySymlinks
    }
}
