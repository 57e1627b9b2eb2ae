import FoundationEssentials
import Glibc

/// Mounts a killed process left behind (a worker's lazy mounts and overlays after SIGKILL):
/// found in `/proc/self/mountinfo` and detached, deepest first, so the directories under them
/// can be removed without reaching into a dead FUSE connection.
public enum StaleMounts {
    /// Detaches every mount at or below `directory`; returns how many there were.
    @discardableResult
    public static func detach(under directory: String) -> Int {
        let base = URL(fileURLWithPath: directory).standardizedFileURL.path
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return 0 }
        let points = text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = unescape(String(fields[4]))
            return point == base || point.hasPrefix(base + "/") ? point : nil
        }
        for point in points.sorted(by: { $0.count > $1.count }) {
            umount2(point, Int32(MNT_DETACH))
        }
        return points.count
    }

    /// In `directory`, whose entries are named after the process that made them (`shells/PID`),
    /// detaches the mounts of every entry whose process is gone and removes the entry: what a
    /// killed `lazycas shell` left behind. Returns how many entries were reclaimed.
    @discardableResult
    public static func reclaimDeadSessions(in directory: String) -> Int {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var reclaimed = 0
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            detach(under: directory + "/" + entry)
            try? FileManager.default.removeItem(atPath: directory + "/" + entry)
            reclaimed += 1
        }
        return reclaimed
    }

    /// mountinfo writes space, tab, newline and backslash as `\ooo`.
    static func unescape(_ field: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(field.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3, let value = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(value)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
