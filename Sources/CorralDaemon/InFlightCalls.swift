import Synchronization

/// How many calls the daemon has handed to a task or a future and not answered yet, across all
/// connections, and how many calls it has received: a graceful stop waits (bounded) until none
/// is in flight and clients have gone quiet.
final class InFlightCalls: Sendable {
    private let count = Atomic<Int>(0)
    private let received = Atomic<UInt64>(0)
    /// Set once a stop waits: until then arrivals are not counted, so the RPC path writes no
    /// counter that every event loop shares.
    private let draining = Atomic<Bool>(false)

    /// A call has been handed off.
    func begin() { count.wrappingAdd(1, ordering: .relaxed) }

    /// A handed-off call has been answered.
    func end() { count.wrappingSubtract(1, ordering: .relaxed) }

    /// A call has arrived on some connection (counted only while a stop waits).
    func callReceived() {
        if draining.load(ordering: .relaxed) { received.wrappingAdd(1, ordering: .relaxed) }
    }

    /// The calls not answered yet.
    var current: Int { count.load(ordering: .relaxed) }

    /// Returns once no call is in flight and no call has arrived for `quietPeriod`, or once
    /// `timeout` has passed; returns whether it went quiet. The quiet period matters because an
    /// answer often brings a follow-up call at once: libvirt's client answers a domain start
    /// with a lookup of the domain's new id, and a daemon that exits with that call unread
    /// makes the client see its connection reset instead of the start's success.
    func waitUntilQuiet(timeout: Duration, quietPeriod: Duration = .milliseconds(40)) async -> Bool {
        draining.store(true, ordering: .relaxed)
        let deadline = ContinuousClock.now + timeout
        var quietSince = ContinuousClock.now
        var seen = received.load(ordering: .relaxed)
        while true {
            let now = ContinuousClock.now
            let arrived = received.load(ordering: .relaxed)
            if arrived != seen || current > 0 {
                seen = arrived
                quietSince = now
            } else if now - quietSince >= quietPeriod {
                return true
            }
            guard now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
