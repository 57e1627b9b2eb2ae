import FoundationEssentials

/// A blob's bytes, in the form the store that hands them on holds them. Small blobs from a
/// server come as bytes; a blob of the local CAS as an open file (a FUSE read splices from it,
/// nothing is copied); a large blob being fetched as an ``IncomingBlob`` whose ranges can be
/// read as they arrive; something to upload as a path read when its bytes are needed; a blob
/// relayed between two servers as ranges read from the first on demand.
public enum Blob: Sendable {
    case bytes(Data)
    case file(OpenFile)
    case path(String)
    case arriving(any IncomingBlob)
    case ranges(RangeReader)

    /// Bytes `range` (fewer only at the end of the blob). An arriving blob is waited for.
    public func read(_ range: Range<Int64>) async throws(CASError) -> Data {
        if range.isEmpty { return Data() }
        switch self {
        case .bytes(let data):
            let start = Int(min(range.lowerBound, Int64(data.count))), end = Int(min(range.upperBound, Int64(data.count)))
            return data.subdata(in: (data.startIndex + start)..<(data.startIndex + end))
        case .file(let file):
            return try file.read(range)
        case .path(let path):
            return try OpenFile(opening: path).read(range)
        case .arriving(let incoming):
            try await incoming.wait(offset: range.lowerBound, count: Int64(range.count))
            return try FileDescriptorIO.read(fd: incoming.fd, range, path: "incoming blob \(incoming.digest)")
        case .ranges(let reader):
            return try await reader.read(range)
        }
    }

    /// The whole blob, which has `size` bytes.
    public func data(size: Int64) async throws(CASError) -> Data {
        if case .bytes(let data) = self { return data }
        let data = try await read(0..<size)
        guard Int64(data.count) == size else {
            throw CASError(.corrupt, "a blob of \(size) bytes ended after \(data.count)")
        }
        return data
    }
}

/// Reads byte ranges of one blob from wherever it lives (another server), on demand.
public struct RangeReader: Sendable {
    public let read: @Sendable (Range<Int64>) async throws(CASError) -> Data

    public init(_ read: @escaping @Sendable (Range<Int64>) async throws(CASError) -> Data) {
        self.read = read
    }
}
