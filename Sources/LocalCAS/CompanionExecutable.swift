import FoundationEssentials

/// The programs installed with `lazycas` that run parts of it in processes of their own:
/// `lazycas-mount` (the mount daemon) and `lazycas-download` (http sources).
public enum CompanionExecutable {
    /// The running executable, resolved (`/proc/self/exe`).
    public static var current: String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    }

    /// `name` beside the running executable (where `swift build` puts it and where it is
    /// installed with lazycas), else the first on PATH; nil when there is neither.
    public static func find(_ name: String) -> String? {
        let beside = current.map { URL(fileURLWithPath: $0).deletingLastPathComponent().appendingPathComponent(name).path }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = [beside].compactMap { $0 } + path.split(separator: ":").map { "\($0)/\(name)" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
