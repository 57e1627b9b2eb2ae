import Foundation
import GRPCCore
import LocalCAS
import Synchronization

/// A real store wrapped to inject faults and to record what was asked of it: the decorator tests'
/// stand-in for a remote. Faults are gRPC statuses (as a remote's failures carry them, the
/// cause of a `CASError`), bytes flipped in transit, a read that breaks part-way, a delay.
public final class FaultyContentStore: ContentStore {
    public enum Operation: Sendable, Hashable { case findMissing, get, read, put }

    /// One call as it reached the store.
    public struct Call: Sendable {
        public var operation: Operation
        public var digests: [Digest]
        public var range: Range<Int64>?
    }

    public struct Faults: Sendable {
        /// Codes the next calls of each operation fail with, in order (one per call).
        public var fail: [Operation: [RPCError.Code]] = [:]
        /// Per blob: codes its next gets fail with (the rest of the batch succeeds).
        public var failBlob: [Digest: [RPCError.Code]] = [:]
        /// The next read delivers this many bytes, then breaks with UNAVAILABLE.
        public var breakReadAfter: Int64?
        /// Gets and reads hand on the bytes with the first one flipped.
        public var corrupt = false
        /// Every call waits this long first.
        public var delay: Duration = .zero
        public init() {}
    }

    public let base: any ContentStore
    private struct State {
        var faults = Faults()
        var calls: [Call] = []
        var running = 0
        var mostRunning = 0
        var readsBeforeData = 0
        var readDataSent = false
    }
    private let state = Mutex(State())

    public init(base: any ContentStore) {
        self.base = base
    }

    public func setFaults(_ change: (inout Faults) -> Void) {
        state.withLock { change(&$0.faults) }
    }

    /// Every call so far, in the order they began.
    public var calls: [Call] { state.withLock { $0.calls } }
    /// The most calls that ran at the same time.
    public var mostConcurrent: Int { state.withLock { $0.mostRunning } }
    /// Reads that began before any read had handed on a byte.
    public var readsBeforeData: Int { state.withLock { $0.readsBeforeData } }

    public static func failure(_ code: RPCError.Code) -> CASError {
        CASError(code == .invalidArgument ? .invalidArgument : .remote, "injected fault",
                 cause: RPCError(code: code, message: "injected \(code)"))
    }

    /// Records the call and returns the faults that apply to it (taking one-shot ones).
    private func enter(_ call: Call) async -> (code: RPCError.Code?, faults: Faults) {
        let (code, faults) = state.withLock { s -> (RPCError.Code?, Faults) in
            s.calls.append(call)
            s.running += 1
            s.mostRunning = max(s.mostRunning, s.running)
            let code = s.faults.fail[call.operation]?.isEmpty == false ? s.faults.fail[call.operation]!.removeFirst() : nil
            let faults = s.faults
            if call.operation == .read {
                s.faults.breakReadAfter = nil
                if !s.readDataSent { s.readsBeforeData += 1 }
            }
            return (code, faults)
        }
        if faults.delay > .zero { try? await Task.sleep(for: faults.delay) }
        return (code, faults)
    }

    private func leave() {
        state.withLock { $0.running -= 1 }
    }

    private static func flipped(_ data: Data) -> Data {
        guard !data.isEmpty else { return Data([0]) }
        var d = data
        d[d.startIndex] ^= 0xff
        return d
    }

    public func findMissing(_ digests: [Digest]) async throws(CASError) -> Set<Digest> {
        let (code, _) = await enter(Call(operation: .findMissing, digests: digests))
        defer { leave() }
        if let code { throw Self.failure(code) }
        return try await base.findMissing(digests)
    }

    public func get(_ digests: [Digest], receive: @escaping @Sendable (Digest, Result<Blob, CASError>) async -> Void) async {
        let (code, faults) = await enter(Call(operation: .get, digests: digests))
        defer { leave() }
        if let code {
            for d in digests { await receive(d, .failure(Self.failure(code))) }
            return
        }
        let failing = state.withLock { s -> [Digest: RPCError.Code] in
            var picked: [Digest: RPCError.Code] = [:]
            for d in digests where s.faults.failBlob[d]?.isEmpty == false { picked[d] = s.faults.failBlob[d]!.removeFirst() }
            return picked
        }
        await base.get(digests.filter { failing[$0] == nil }) { digest, result in
            guard faults.corrupt, case .success(let blob) = result else { return await receive(digest, result) }
            do throws(CASError) {
                await receive(digest, .success(.bytes(Self.flipped(try await blob.data(size: digest.sizeBytes)))))
            } catch {
                await receive(digest, .failure(error))
            }
        }
        for (digest, code) in failing { await receive(digest, .failure(Self.failure(code))) }
    }

    public func read(_ digest: Digest, range: Range<Int64>,
                     into sink: @escaping @Sendable (Data) throws(CASError) -> Void) async throws(CASError) {
        let (code, faults) = await enter(Call(operation: .read, digests: [digest], range: range))
        defer { leave() }
        if let code { throw Self.failure(code) }
        let sent = Mutex<Int64>(0)
        let limit = faults.breakReadAfter
        do {
            try await base.read(digest, range: range) { piece throws(CASError) in
                var piece = faults.corrupt && sent.withLock({ $0 }) == 0 && range.lowerBound == 0 ? Self.flipped(piece) : piece
                if let limit {
                    let room = limit - sent.withLock { $0 }
                    if room <= 0 { throw Self.failure(.unavailable) }
                    if Int64(piece.count) > room { piece = piece.prefix(Int(room)) }
                }
                self.state.withLock { $0.readDataSent = true }
                try sink(piece)
                sent.withLock { $0 += Int64(piece.count) }
                if let limit, sent.withLock({ $0 }) >= limit { throw Self.failure(.unavailable) }
            }
        }
    }

    public func put(_ blobs: [Digest: Blob]) async throws(CASError) {
        let (code, _) = await enter(Call(operation: .put, digests: Array(blobs.keys)))
        defer { leave() }
        if let code { throw Self.failure(code) }
        try await base.put(blobs)
    }

    public func available(_ digest: Digest) -> Blob? { nil }
}
