import CorralProtocol
import NIOCore
import NIOPosix
import Synchronization

/// Runs the daemon's work on guests' runtime files (setting up a run directory and spawning
/// QEMU, status files, log lines, clean-up) one item at a time, in the order it was queued, on
/// NIO's thread pool.
///
/// So none of it blocks an event loop (the driver actor runs on them), and none of it is
/// reordered: a stopped guest's clean-up queued before the next start's set-up runs before it,
/// and a status file is never overwritten by an older one.
final class RuntimeFileQueue: Sendable {
    private struct State {
        var draining = false
        var items = CircularBuffer<@Sendable () -> Void>()
    }

    private let state = Mutex(State())
    private let pool: NIOThreadPool

    init(pool: NIOThreadPool = .singleton) {
        self.pool = pool
    }

    /// Queues `item`; returns at once.
    func enqueue(_ item: @escaping @Sendable () -> Void) {
        let startDraining = state.withLock { state -> Bool in
            state.items.append(item)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        if startDraining { pool.submit { _ in self.drain() } }
    }

    /// Queues `body` and returns its result once it has run.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws(RemoteError) -> T) async throws(RemoteError) -> T {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, RemoteError>, Never>) in
            enqueue {
                do throws(RemoteError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Returns once everything queued before the call has run.
    func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            enqueue { continuation.resume() }
        }
    }

    private func drain() {
        while let item = state.withLock({ state -> (@Sendable () -> Void)? in
            guard let item = state.items.popFirst() else {
                state.draining = false
                return nil
            }
            return item
        }) {
            item()
        }
    }
}
