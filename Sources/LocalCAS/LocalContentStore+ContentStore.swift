import FoundationEssentials
import Glibc

/// The local CAS as a ``ContentStore``: blobs are handed on as open files; whatever is put is
/// hashed on the way in and made visible only when it matches its digest.
extension LocalContentStore: ContentStore {
    public func findMissing(_ digests: [Digest]) async throws(CASError) -> Set<Digest> {
        Set(missing(digests))
    }

    public func get(_ digests: [Digest], receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async {
        for digest in digests {
            do throws(CASError) {
                await receive(digest, .success(.file(try openFile(digest))))
            } catch {
                await receive(digest, .failure(error))
            }
        }
    }

    public func read(_ digest: Digest, range: Range<Int64>,
                     into sink: @escaping @Sendable (Data) throws(CASError) -> Void) async throws(CASError) {
        let file = try openFile(digest)
        var offset = range.lowerBound
        while offset < range.upperBound {
            let piece = try file.read(offset..<min(range.upperBound, offset + Self.chunkSize))
            if piece.isEmpty { break }
            try sink(piece)
            offset += Int64(piece.count)
        }
    }

    public func put(_ blobs: [Digest: Blob]) async throws(CASError) {
        try await put(blobs, packing: false)
    }

    /// ``put(_:)``, with the small blobs that come as bytes packed if `packing`
    /// (``put(_:expecting:packing:)``).
    public func put(_ blobs: [Digest: Blob], packing: Bool) async throws(CASError) {
        for (digest, blob) in blobs where !(digest.sizeBytes == 0 && contains(digest)) {
            switch blob {
            case .bytes(let data):
                try put(data, expecting: digest, packing: packing)
            case .path(let path):
                if !contains(digest) { try importFile(at: path, expecting: digest) }
            case .arriving(let incoming):
                do {
                    try await incoming.complete()
                } catch {
                    throw CASError.wrapping(error, "storing blob \(digest)", default: .remote)
                }
                if !contains(digest) { try await copy(digest, from: blob) }
            case .file, .ranges:
                if !contains(digest) { try await copy(digest, from: blob) }
            }
        }
    }

    /// Blob `digest` of this store as something to upload: its file, read when the bytes are
    /// needed (so thousands can be offered at once without opening thousands of files).
    public func source(_ digest: Digest) -> Blob {
        if digest.sizeBytes == 0 { return .bytes(Data()) }
        if packed(digest) != nil, let file = try? openFile(digest) { return .file(file) }
        return .path(path(of: digest))
    }

    public func available(_ digest: Digest) -> Blob? {
        (try? openFile(digest)).map { .file($0) }
    }

    /// Bytes per read when a blob is copied or streamed.
    static let chunkSize: Int64 = 1 << 20

    /// Writes `blob` into the store a chunk at a time, hashing as it goes.
    private func copy(_ digest: Digest, from blob: Blob) async throws(CASError) {
        let writer = try makeWriter(expecting: digest)
        var offset: Int64 = 0
        while offset < digest.sizeBytes {
            let piece = try await blob.read(offset..<min(digest.sizeBytes, offset + Self.chunkSize))
            guard !piece.isEmpty else {
                writer.abort()
                throw CASError(.corrupt, "blob \(digest) ended after \(offset) of \(digest.sizeBytes) bytes")
            }
            try writer.write(piece)
            offset += Int64(piece.count)
        }
        try writer.commit()
    }
}
