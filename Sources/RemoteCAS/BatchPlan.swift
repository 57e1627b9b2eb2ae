import LocalCAS

/// How a set of blobs is split into calls: small blobs packed into batches of at most `limit`
/// bytes (largest first, first fit), blobs over the limit each on their own. Within a batch,
/// blobs keep the order they were given in (a reader's blob asked for first is stored first).
/// Works on positions, so planning hashes no digest.
///
/// A blob costs its bytes plus ``entryOverhead``: the limit bounds the whole message, and in
/// a batch of many tiny blobs the framing weighs as much as the data (7,985 blobs of 100 B–4 KiB
/// made a 4.09 MiB BatchUpdateBlobs request out of 3.5 MiB of data, over gRPC's 4 MiB default).
struct BatchPlan: Sendable {
    var batches: [[Digest]] = []
    var singles: [Digest] = []

    /// An upper bound on what one entry of a batch request or response adds to the message
    /// besides the blob's bytes: the entry's tag and length, its Digest (a 64-character hash and
    /// a size), the data's tag and length, a status and a compressor field.
    static let entryOverhead: Int64 = 128

    /// - Parameter digests: each once.
    init(_ digests: [Digest], limit: Int64) {
        let largestFirst = digests.indices.sorted { (digests[$0].sizeBytes, $1) > (digests[$1].sizeBytes, $0) }
        var open: [(bytes: Int64, members: [Int])] = []
        for i in largestFirst {
            let size = digests[i].sizeBytes + Self.entryOverhead
            if size > limit {
                singles.append(digests[i])
                continue
            }
            // Largest first means the newest batch is the fullest candidate only rarely;
            // checking the last few batches keeps packing tight without quadratic scans.
            if let b = open.indices.suffix(4).first(where: { open[$0].bytes + size <= limit }) {
                open[b].bytes += size
                open[b].members.append(i)
            } else {
                open.append((size, [i]))
            }
        }
        batches = open.map { $0.members.sorted().map { digests[$0] } }
    }
}
