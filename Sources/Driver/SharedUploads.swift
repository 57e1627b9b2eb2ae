import LocalCAS

/// The uploads of one build, shared by its actions: elements that start together (a sysroot
/// under each) find the same blobs missing, and each blob is sent once — a second action
/// waits for the first one's upload instead of sending the same bytes again.
actor SharedUploads {
    private var inFlight: [Digest: Task<Void, any Error>] = [:]
    private var sent: Set<Digest> = []

    /// Sends those of `blobs` that no other action is sending or has sent (with `put`), and
    /// waits for the others' uploads of the rest.
    func upload(_ blobs: [Digest: Blob], with put: @escaping @Sendable ([Digest: Blob]) async throws -> Void) async throws {
        var mine: [Digest: Blob] = [:]
        var theirs: [Task<Void, any Error>] = []
        for (digest, blob) in blobs where !sent.contains(digest) {
            if let task = inFlight[digest] { theirs.append(task) } else { mine[digest] = blob }
        }
        if !mine.isEmpty {
            let task = Task { try await put(mine) }
            for digest in mine.keys { inFlight[digest] = task }
            let result = await task.result
            for digest in mine.keys { inFlight[digest] = nil }
            if case .success = result { sent.formUnion(mine.keys) }
            try result.get()
        }
        for task in theirs { try await task.value }
    }
}
