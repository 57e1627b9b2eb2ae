import Foundation
import REAPI
import Synchronization

/// Execute operations by name, with their latest state, so that a client whose Execute stream
/// broke can pick the operation up again with WaitExecution. Finished operations are kept for a
/// while (the last ``retainedFinished``), then forgotten.
final class OperationStore: Sendable {
    typealias Operation = Google_Longrunning_Operation

    private final class Entry: Sendable {
        let state = Mutex<(latest: Operation, subscribers: [UUID: AsyncStream<Operation>.Continuation])>((Operation(), [:]))
    }
    private let entries = Mutex<(byName: [String: Entry], finished: [String])>(([:], []))
    static let retainedFinished = 1000

    /// Registers a new operation in its first state.
    func create(_ first: Operation) {
        let entry = Entry()
        entry.state.withLock { $0.latest = first }
        entries.withLock { $0.byName[first.name] = entry }
    }

    /// Records a new state and sends it to every subscriber; a final (`done`) state ends their
    /// streams.
    func update(_ operation: Operation) {
        guard let entry = entries.withLock({ $0.byName[operation.name] }) else { return }
        let subscribers = entry.state.withLock { s -> [AsyncStream<Operation>.Continuation] in
            s.latest = operation
            let all = Array(s.subscribers.values)
            if operation.done { s.subscribers.removeAll() }
            return all
        }
        for s in subscribers {
            s.yield(operation)
            if operation.done { s.finish() }
        }
        if operation.done {
            entries.withLock { e in
                e.finished.append(operation.name)
                if e.finished.count > Self.retainedFinished {
                    e.byName[e.finished.removeFirst()] = nil
                }
            }
        }
    }

    /// The states of operation `name` from its current one until it is done; nil if unknown.
    func follow(_ name: String) -> AsyncStream<Operation>? {
        guard let entry = entries.withLock({ $0.byName[name] }) else { return nil }
        let (stream, continuation) = AsyncStream<Operation>.makeStream()
        let id = UUID()
        entry.state.withLock { s in
            continuation.yield(s.latest)
            if s.latest.done {
                continuation.finish()
            } else {
                s.subscribers[id] = continuation
            }
        }
        return stream
    }
}
