import Foundation

/// Builds directory trees on disk for tests and benchmarks: files of chosen sizes with
/// deterministic pseudo-random content, executables, symlinks, empty directories.
public struct TreeFixture {
    public let root: String
    private var rng: SplitMix64

    public init(root: String, seed: UInt64 = 42) {
        self.root = root
        rng = SplitMix64(seed: seed)
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    /// Writes `size` deterministic bytes at `relative` (creating parent directories).
    @discardableResult
    public mutating func file(_ relative: String, size: Int, executable: Bool = false) -> Data {
        var data = Data(count: size)
        data.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt8.self)
            var i = 0
            while i < size {
                var word = rng.next()
                for _ in 0..<8 where i < size {
                    words[i] = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                    i += 1
                }
            }
        }
        write(relative, data, executable: executable)
        return data
    }

    public func write(_ relative: String, _ data: Data, executable: Bool = false) {
        let path = root + "/" + relative
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: path, contents: data,
                                       attributes: [.posixPermissions: executable ? 0o755 : 0o644])
    }

    public func symlink(_ relative: String, to target: String) {
        let path = root + "/" + relative
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        _ = Glibc.symlink(target, path)
    }

    public func directory(_ relative: String) {
        try? FileManager.default.createDirectory(atPath: root + "/" + relative, withIntermediateDirectories: true)
    }

    /// `count` files spread over nested directories, sizes log-uniform in `sizes`, plus the
    /// given large files; every 7th file executable. Returns the relative paths written.
    @discardableResult
    public mutating func populate(files count: Int, sizes: ClosedRange<Int> = 1024...65536,
                                  largeFiles: [Int] = []) -> [String] {
        var paths: [String] = []
        let logLow = log(Double(sizes.lowerBound)), logHigh = log(Double(sizes.upperBound))
        for i in 0..<count {
            let u = Double(rng.next() % 1_000_000) / 1_000_000
            let size = Int(exp(logLow + u * (logHigh - logLow)))
            let path = "d\(i % 10)/e\(i % 37)/f\(i).bin"
            file(path, size: size, executable: i % 7 == 0)
            paths.append(path)
        }
        for (i, size) in largeFiles.enumerated() {
            let path = "large/big\(i).bin"
            file(path, size: size)
            paths.append(path)
        }
        return paths
    }
}

/// A small, fast, seedable generator (Steele et al., SplitMix64).
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
