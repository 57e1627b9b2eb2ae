import LocalCAS

/// How a set of blobs is split into transfers: small blobs packed into batches of at most
/// `limit` bytes (largest first, first fit), blobs over the limit each on their own stream.
struct BatchPlan: Sendable {
    var batches: [[Digest]] = []
    var streams: [Digest] = []

    init(_ digests: some Sequence<Digest>, limit: Int64) {
        var open: [(bytes: Int64, digests: [Digest])] = []
        for digest in digests.sorted(by: { $0.sizeBytes > $1.sizeBytes }) {
            if digest.sizeBytes > limit {
                streams.append(digest)
                continue
            }
            // Largest first means the newest batch is the fullest candidate only rarely;
            // checking the last few batches keeps packing tight without quadratic scans.
            if let i = open.indices.suffix(4).first(where: { open[$0].bytes + digest.sizeBytes <= limit }) {
                open[i].bytes += digest.sizeBytes
                open[i].digests.append(digest)
            } else {
                open.append((digest.sizeBytes, [digest]))
            }
        }
        batches = open.map(\.digests)
    }
}
