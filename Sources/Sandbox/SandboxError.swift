import LocalCAS

/// An action could not be validated, set up or run: a malformed Command, a process that cannot
/// be spawned, a staging directory that cannot be made.
public typealias SandboxError = DomainError<SandboxFailure>

/// The domain of ``SandboxError``.
public enum SandboxFailure {}
