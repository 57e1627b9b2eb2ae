import Foundation
import LocalCAS

/// Every blob in the local CAS at `root` checked against its name: the paths under `objects/`
/// whose content does not hash to the digest they are stored as, and the packed blobs whose
/// bytes do not (as `PACK: DIGEST`). Empty for a consistent cache.
public func inconsistentBlobs(inCache root: String) throws -> [String] {
    let objects = root + "/objects"
    var bad: [String] = []
    for prefix in (try? FileManager.default.contentsOfDirectory(atPath: objects)) ?? [] {
        for rest in try FileManager.default.contentsOfDirectory(atPath: objects + "/" + prefix) {
            let path = "\(objects)/\(prefix)/\(rest)"
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            if Digest(data: data).hash != prefix + rest { bad.append(path) }
        }
    }
    let store = try LocalContentStore(root: root)
    store.forEachPack { id, _, _, digests in
        for digest in digests where (try? Digest(data: store.read(digest))) != digest {
            bad.append("\(root)/packs/\(id).pack: \(digest)")
        }
    }
    return bad
}

/// The mount points under `directory` in this machine's mount table.
public func mounts(under directory: String) -> [String] {
    let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
    return table.split(separator: "\n").compactMap { line in
        let fields = line.split(separator: " ")
        guard fields.count > 4 else { return nil }
        let point = String(fields[4])
        return point == directory || point.hasPrefix(directory + "/") ? point : nil
    }
}
