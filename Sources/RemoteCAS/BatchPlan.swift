import LocalCAS

/// How a set of blobs is split into calls: small blobs packed into batches of at most `limit`
/// bytes (largest first, first fit), blobs over the limit each on their own. Within a batch,
/// blobs keep the order they were given in (a reader's blob asked for first is stored first).
/// Works on positions, so planning hashes no digest.
struct BatchPlan: Sendable {
    var batches: [[Digest]] = []
    var singles: [Digest] = []

    /// - Parameter digests: each once.
    init(_ digests: [Digest], limit: Int64) {
        let largestFirst = digests.indices.sorted { (digests[$0].sizeBytes, $1) > (digests[$1].sizeBytes, $0) }
        var open: [(bytes: Int64, members: [Int])] = []
        for i in largestFirst {
            let size = digests[i].sizeBytes
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
