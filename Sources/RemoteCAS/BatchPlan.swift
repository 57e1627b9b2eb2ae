import LocalCAS

/// How a set of blobs is split into calls: small blobs packed into batches of at most `limit`
/// bytes (largest first, first fit), blobs over the limit each on their own. Within a batch,
/// blobs keep the order they were given in (a reader's blob asked for first is stored first).
struct BatchPlan: Sendable {
    var batches: [[Digest]] = []
    var singles: [Digest] = []

    init(_ digests: [Digest], limit: Int64) {
        let position = Dictionary(digests.enumerated().map { ($1, $0) }, uniquingKeysWith: min)
        var open: [(bytes: Int64, digests: [Digest])] = []
        for digest in position.keys.sorted(by: { ($0.sizeBytes, position[$1]!) > ($1.sizeBytes, position[$0]!) }) {
            if digest.sizeBytes > limit {
                singles.append(digest)
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
        batches = open.map { $0.digests.sorted { position[$0]! < position[$1]! } }
    }
}
