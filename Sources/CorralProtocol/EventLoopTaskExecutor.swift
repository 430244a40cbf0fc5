public import NIOCore

/// A task executor that runs jobs on one NIO event loop.
///
/// A task that prefers it runs on that loop's thread: a client's calls are written there and
/// resumed there when the reply arrives (`CorralConnection.withConnection` sets the preference),
/// and the daemon's short asynchronous handlers (define, undefine) run on their connection's
/// loop, so a round trip wakes no other thread. Without it every call crosses twice: from the
/// concurrency pool to the event loop to write, and back to the pool for the reply, each a
/// wake-up of a sleeping thread (on this project's 2-core VMs a cross-CPU wake-up costs tens of
/// microseconds, more than the daemon's own work on most calls).
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop the jobs run on.
    public let eventLoop: any EventLoop

    /// An executor for `eventLoop`.
    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { [self] in
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
