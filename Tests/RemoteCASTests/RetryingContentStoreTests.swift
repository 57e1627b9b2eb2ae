import Foundation
import GRPCCore
import LocalCAS
import RemoteCAS
import Synchronization
import TestSupport
import Testing

/// ``RetryingContentStore`` over a real store with injected faults.
@Suite struct RetryingContentStoreTests {
    static let policy = RetryPolicy(maxAttempts: 4, deadline: .seconds(30))

    @Test func unavailableTwiceThenTheCallSucceeds() async throws {
        let f = try StoreFixture()
        let (digest, _) = try f.blobs(1, size: 100)[0]
        f.faulty.setFaults { $0.fail[.findMissing] = [.unavailable, .resourceExhausted] }
        let missing = try await RetryingContentStore(base: f.faulty, policy: Self.policy).findMissing([digest])
        #expect(missing.isEmpty)
        #expect(f.faulty.calls.count == 3, "two failures, then the answer")
    }

    @Test func aCodeNotWorthRetryingFailsAtOnce() async throws {
        let f = try StoreFixture()
        f.faulty.setFaults { $0.fail[.put] = [.invalidArgument, .invalidArgument] }
        let data = Data("refused".utf8)
        await #expect { try await RetryingContentStore(base: f.faulty, policy: Self.policy).put([Digest(data: data): .bytes(data)]) }
            throws: { ($0 as? CASError)?.code == .invalidArgument }
        #expect(f.faulty.calls.count == 1)
    }

    @Test func attemptsStopAtTheirNumber() async throws {
        let f = try StoreFixture()
        f.faulty.setFaults { $0.fail[.findMissing] = Array(repeating: .unavailable, count: 10) }
        await #expect { try await RetryingContentStore(base: f.faulty, policy: Self.policy).findMissing([.empty]) }
            throws: { (($0 as? CASError)?.cause as? RPCError)?.code == .unavailable }
        #expect(f.faulty.calls.count == 4)
    }

    @Test func attemptsStopAtTheDeadline() async throws {
        let f = try StoreFixture()
        f.faulty.setFaults {
            $0.fail[.findMissing] = Array(repeating: .unavailable, count: 1000)
            $0.delay = .milliseconds(300)
        }
        var policy = RetryPolicy(maxAttempts: 1000, deadline: .seconds(2))
        policy.maxBackoff = .milliseconds(200)
        let started = ContinuousClock.now
        await #expect { try await RetryingContentStore(base: f.faulty, policy: policy).findMissing([.empty]) }
            throws: { $0 is CASError }
        // Without the deadline it would go on for 1,000 attempts of at least 300 ms each; the
        // time bound leaves room for a loaded machine (the full suite, where 16 s was seen).
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(f.faulty.calls.count < 20, "\(f.faulty.calls.count) attempts")
    }

    @Test func aReadThatBreaksResumesWhereItStopped() async throws {
        let f = try StoreFixture()
        let (digest, data) = try f.blobs(1, size: 3 << 20)[0]
        f.faulty.setFaults { $0.breakReadAfter = 100_000 }
        let received = Mutex(Data())
        try await RetryingContentStore(base: f.faulty, policy: Self.policy).read(digest, range: 0..<digest.sizeBytes) { piece in
            received.withLock { $0.append(piece) }
        }
        #expect(received.withLock { $0 } == data, "every byte once, in order")
        #expect(f.faulty.calls.map(\.range) == [0..<digest.sizeBytes, 100_000..<digest.sizeBytes])
    }

    @Test func aBatchRetriesOnlyTheBlobsThatFailed() async throws {
        let f = try StoreFixture()
        let blobs = try f.blobs(3, size: 1000)
        f.faulty.setFaults { $0.failBlob[blobs[1].digest] = [.unavailable] }
        let got = try await RetryingContentStore(base: f.faulty, policy: Self.policy).getAll(blobs.map(\.digest))
        for (digest, data) in blobs { #expect(try await got[digest]!.data(size: digest.sizeBytes) == data) }
        #expect(f.faulty.calls.map(\.digests) == [blobs.map(\.digest), [blobs[1].digest]])
    }

    @Test func aBlobThatKeepsFailingGetsItsLastError() async throws {
        let f = try StoreFixture()
        let blobs = try f.blobs(2, size: 1000)
        f.faulty.setFaults { $0.failBlob[blobs[0].digest] = Array(repeating: .unavailable, count: 10) }
        await #expect { _ = try await RetryingContentStore(base: f.faulty, policy: Self.policy).getAll(blobs.map(\.digest)) }
            throws: { (($0 as? CASError)?.cause as? RPCError)?.code == .unavailable }
        #expect(f.faulty.calls.count == 4)
    }
}
