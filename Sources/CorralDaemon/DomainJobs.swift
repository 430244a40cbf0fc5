import CorralProtocol
import NIOCore
import NIOPosix
import Synchronization

/// The job of each domain, as libvirt's `virDomainObjBeginJob`: every change to a domain —
/// define, undefine, start, destroy, shutdown, reboot, reset, suspend, resume, and every later
/// change — runs inside its job, one at a time, in the order they asked. A second change waits;
/// after ``timeout`` (libvirt's 30 s) it fails with libvirt's "cannot acquire state change
/// lock". Queries never take a job.
///
/// Jobs are keyed by domain name: a name is what a define, an undefine and a transient create
/// race for (a new definition of a name may come with a new UUID), and a domain's name never
/// changes. Waiting holds no thread: a waiter is a continuation, its timeout a task scheduled on
/// an event loop.
final class DomainJobs: Sendable {
    /// How long a change waits for the job before it gives up.
    let timeout: TimeAmount
    private let eventLoopGroup: any EventLoopGroup

    private struct Waiter {
        var id: UInt64
        var operation: String
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct Job {
        /// What holds the job now (for the timeout's message).
        var holder: String
        var waiters: [Waiter] = []
    }

    private let state = Mutex<(jobs: [String: Job], nextWaiter: UInt64)>(([:], 0))

    init(timeout: TimeAmount = .seconds(30), eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.timeout = timeout
        self.eventLoopGroup = eventLoopGroup
    }

    /// Runs `body` inside the job of the domain `name`, waiting for the job first.
    ///
    /// - Parameter operation: libvirt's name for the operation (`remoteDispatchDomainCreate`…),
    ///   shown to a change that times out waiting behind it.
    func run<T: Sendable>(
        _ name: String, _ operation: String, isolation: isolated (any Actor)? = #isolation, _ body: () async throws(RemoteError) -> T
    ) async throws(RemoteError) -> T {
        try await acquire(name, operation)
        defer { release(name) }
        return try await body()
    }

    /// Work a change leaves to be done after its caller has its answer, still inside the job.
    typealias Remainder = @Sendable () async -> Void

    /// Runs `body` inside the job of `name`; when `body` hands back a remainder, the job stays
    /// held while the remainder runs in a task of its own, so the caller can answer at once and
    /// no other change comes before the remainder is done.
    func runLeavingRemainder<T: Sendable>(
        _ name: String, _ operation: String, isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws(RemoteError) -> (T, Remainder?)
    ) async throws(RemoteError) -> T {
        try await acquire(name, operation)
        let value: T, remainder: Remainder?
        do throws(RemoteError) {
            (value, remainder) = try await body()
        } catch {
            release(name)
            throw error
        }
        guard let remainder else {
            release(name)
            return value
        }
        state.withLock { $0.jobs[name]?.holder = operation + " (clean-up)" }
        Task {
            await remainder()
            self.release(name)
        }
        return value
    }

    /// Whether some change holds the job of `name` now.
    func isBusy(_ name: String) -> Bool { state.withLock { $0.jobs[name] != nil } }

    private func acquire(_ name: String, _ operation: String) async throws(RemoteError) {
        let immediate = state.withLock { state -> Bool in
            guard state.jobs[name] == nil else { return false }
            state.jobs[name] = Job(holder: operation)
            return true
        }
        if immediate { return }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (id, granted) = state.withLock { state -> (UInt64, Bool) in
                    state.nextWaiter &+= 1
                    guard state.jobs[name] != nil else {
                        // Released between the first look and now.
                        state.jobs[name] = Job(holder: operation)
                        return (state.nextWaiter, true)
                    }
                    state.jobs[name]!.waiters.append(Waiter(id: state.nextWaiter, operation: operation, continuation: continuation))
                    return (state.nextWaiter, false)
                }
                if granted {
                    continuation.resume()
                    return
                }
                eventLoopGroup.next().scheduleTask(in: timeout) { self.timedOut(name, waiter: id) }
            }
        } catch let error as RemoteError {
            throw error
        } catch {
            throw RemoteError.internalError("\(error)")
        }
    }

    private func timedOut(_ name: String, waiter id: UInt64) {
        let expired = state.withLock { state -> (Waiter, String)? in
            guard var job = state.jobs[name], let index = job.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = job.waiters.remove(at: index)
            state.jobs[name] = job
            return (waiter, job.holder)
        }
        guard let (waiter, holder) = expired else { return }
        waiter.continuation.resume(throwing: RemoteError(
            code: .operationTimeout, domain: .qemu, detail: "cannot acquire state change lock (held by monitor=\(holder))"))
    }

    private func release(_ name: String) {
        let next = state.withLock { state -> Waiter? in
            guard var job = state.jobs[name] else { return nil }
            guard !job.waiters.isEmpty else {
                state.jobs[name] = nil
                return nil
            }
            let waiter = job.waiters.removeFirst()
            job.holder = waiter.operation
            state.jobs[name] = job
            return waiter
        }
        next?.continuation.resume()
    }
}
