import CProcessDescriptors
#if canImport(Glibc)
public import Glibc
#endif
import Synchronization

/// A process whose end ``ProcessReaper`` reports: its pidfd, how it ended, and the tasks
/// waiting for that.
///
/// Signals go through the pidfd, so they can never reach a later process that reuses the pid.
public final class WatchedProcess: Sendable {
    /// The process id.
    public let pid: Glibc.pid_t

    private struct State {
        var descriptor: Int32
        var ended = false
        var termination: ChildProcess.Termination?
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state: Synchronization.Mutex<State>

    init(pid: Glibc.pid_t, descriptor: Int32) {
        self.pid = pid
        self.state = Synchronization.Mutex(State(descriptor: descriptor))
    }

    deinit {
        state.withLock { state in
            if state.descriptor >= 0 { close(state.descriptor) }
        }
    }

    /// Whether the process has ended.
    public var hasExited: Bool { state.withLock { $0.ended } }

    /// How it ended, when it was the daemon's child and has ended; `nil` otherwise.
    public var termination: ChildProcess.Termination? { state.withLock { $0.termination } }

    /// Sends `signal`; returns `false` when the process has already ended.
    @discardableResult
    public func signal(_ signal: Int32) -> Bool {
        state.withLock { state in
            guard !state.ended, state.descriptor >= 0 else { return false }
            return corral_pidfd_send_signal(state.descriptor, signal) == 0
        }
    }

    /// Waits until the process has ended or `timeout` has passed; returns whether it ended.
    public func waitForExit(timeout: Duration) async -> Bool {
        if hasExited { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.ended() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first || hasExited
        }
    }

    /// Returns when the process has ended, or at once when the task is cancelled.
    private func ended() async -> Bool {
        let id = state.withLock { state -> UInt64 in
            defer { state.nextWaiter &+= 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.ended || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
        return hasExited
    }

    /// Called once by the reaper: the process ended (and, for a child, was reaped).
    func finish(_ termination: ChildProcess.Termination?) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.ended = true
            state.termination = termination
            if state.descriptor >= 0 { close(state.descriptor) }
            state.descriptor = -1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }
}
