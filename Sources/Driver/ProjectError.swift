import LocalCAS

/// Something wrong with a project: its files (YAML syntax, unknown keys and kinds, undefined
/// variables, misplaced sources), or its element graph (a missing element, a dependency cycle).
/// The message says what and where (`FILE:LINE:COL: …`). The CLI exits 1 for it: the input is
/// wrong, nothing remote failed.
public typealias ProjectError = DomainError<ProjectFailure>

/// The domain of ``ProjectError``.
public enum ProjectFailure {}
