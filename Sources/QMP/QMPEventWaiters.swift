import Synchronization
public import NIOCore

/// One-shot waits for a session's events by name: each waiter is completed by the first
/// matching event that arrives after it was added, or with `nil` when its time runs out or the
/// session closes. Events still go to the session's stream as well.
final class QMPEventWaiters: Sendable {
    private struct Waiter {
        var names: Set<String>
        var promise: EventLoopPromise<QMPEvent?>
    }

    private let state = Mutex<(next: UInt64, waiters: [UInt64: Waiter], closed: Bool)>((0, [:], false))

    /// Adds a waiter for the next event named one of `names`, expiring after `timeout`.
    func add(_ names: Set<String>, on eventLoop: any EventLoop, timeout: TimeAmount) -> EventLoopFuture<QMPEvent?> {
        let promise = eventLoop.makePromise(of: QMPEvent?.self)
        let id = state.withLock { state -> UInt64? in
            guard !state.closed else { return nil }
            state.next &+= 1
            state.waiters[state.next] = Waiter(names: names, promise: promise)
            return state.next
        }
        guard let id else {
            promise.succeed(nil)
            return promise.futureResult
        }
        eventLoop.scheduleTask(in: timeout) { self.take(id)?.succeed(nil) }
        return promise.futureResult
    }

    /// Completes every waiter `event` matches.
    func deliver(_ event: QMPEvent) {
        let matched = state.withLock { state -> [EventLoopPromise<QMPEvent?>] in
            let ids = state.waiters.filter { $0.value.names.contains(event.name) }.map(\.key)
            return ids.compactMap { state.waiters.removeValue(forKey: $0)?.promise }
        }
        for promise in matched { promise.succeed(event) }
    }

    /// The session closed: every waiter gets `nil`, and later ones at once.
    func close() {
        let all = state.withLock { state -> [EventLoopPromise<QMPEvent?>] in
            state.closed = true
            defer { state.waiters = [:] }
            return state.waiters.values.map(\.promise)
        }
        for promise in all { promise.succeed(nil) }
    }

    private func take(_ id: UInt64) -> EventLoopPromise<QMPEvent?>? {
        state.withLock { $0.waiters.removeValue(forKey: id)?.promise }
    }
}
