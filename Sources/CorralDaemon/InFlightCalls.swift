import Synchronization

/// How many calls the daemon has handed to a task or a future and not answered yet, across all
/// connections: a graceful stop waits for them (bounded).
final class InFlightCalls: Sendable {
    private let count = Atomic<Int>(0)

    /// A call has been handed off.
    func begin() { count.wrappingAdd(1, ordering: .relaxed) }

    /// A handed-off call has been answered.
    func end() { count.wrappingSubtract(1, ordering: .relaxed) }

    /// The calls not answered yet.
    var current: Int { count.load(ordering: .relaxed) }

    /// Returns once no call is in flight or `timeout` has passed; returns whether none is.
    func waitUntilIdle(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while current > 0 {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return true
    }
}
