/// How eagerly a mount reads ahead (``ReadAhead``).
public enum ReadAheadPolicy: String, Sendable, Codable, CaseIterable {
    /// Guess from the first cold read on (an interactive mount: `ls`, `grep -r`, `cp -r`).
    case eager
    /// Guess only after evidence: siblings after the second cold read in a directory, the walk
    /// after the second cold read anywhere. An action that reads one file fetches one file; one
    /// that scans directories still gets batches (a build worker).
    case cautious
    /// Fetch exactly the files read.
    case off
}
