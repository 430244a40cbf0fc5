import CAsyncIO
import Glibc
import NIOCore
import NIOPosix
import Synchronization

/// Durable writes submitted from an event loop and finished on it: Linux's native AIO with
/// `RWF_DSYNC` on a direct-I/O descriptor, its completions counted by an eventfd that the loop
/// watches as a channel.
///
/// Why: a define must reach the disk before it answers. Through NIO's thread pool that costs two
/// thread hops (the loop wakes a pool thread, which wakes the loop), about 100 µs a define on
/// this project's machines: a fifth of a define. Here the loop submits the write (a system call
/// of ~20 µs that does not wait for the disk) and goes on serving; the disk's completion wakes
/// it once. Why our own: NIO's file I/O (`NonBlockingFileIO`, `NIOFileSystem`) runs on the
/// thread pool, and no maintained Swift package submits Linux AIO.
///
/// One writer per event loop, made on the loop when first asked for (``current()``); a host
/// whose kernel refuses AIO, or a loop whose writer could not be made, has none, and the
/// journal writes through the thread pool as before. Its state is confined to its loop.
final class EventLoopDurableWriter: @unchecked Sendable {
    /// The most writes in flight on one loop (the journal has at most one).
    static let depth: UInt32 = 8

    let eventLoop: any EventLoop
    private let context: UInt64
    private let eventDescriptor: Int32
    /// Writes submitted and not finished, by token, with what to call with each one's result
    /// (only on `eventLoop`).
    private var pending: [UInt64: (Int64) -> Void] = [:]
    private var nextToken: UInt64 = 1
    /// Whether the eventfd's channel closed: nothing more is submitted.
    private var closed = false

    private init(eventLoop: any EventLoop, context: UInt64, eventDescriptor: Int32) {
        self.eventLoop = eventLoop
        self.context = context
        self.eventDescriptor = eventDescriptor
    }

    /// Each loop's writer, or `nil` where none could be made.
    private static let writers = Mutex<[ObjectIdentifier: (loop: any EventLoop, writer: EventLoopDurableWriter?)]>([:])

    /// The writer of the event loop this runs on, made now when the loop has none yet; `nil` off
    /// an event loop, or where AIO is not available.
    static func current() -> EventLoopDurableWriter? {
        guard let loop = MultiThreadedEventLoopGroup.currentEventLoop else { return nil }
        let key = ObjectIdentifier(loop)
        if let entry = writers.withLock({ $0[key] }), entry.loop === loop { return entry.writer }
        // Only this loop makes its own writer, so no other thread races for this key.
        let writer = make(on: loop)
        writers.withLock { $0[key] = (loop, writer) }
        return writer
    }

    /// A writer for `loop` (called on it): an AIO context and an eventfd, the eventfd watched by
    /// a channel of the loop.
    private static func make(on loop: any EventLoop) -> EventLoopDurableWriter? {
        var context: UInt64 = 0
        guard corral_aio_setup(depth, &context) == 0 else { return nil }
        let descriptor = corral_aio_eventfd()
        guard descriptor >= 0 else {
            corral_aio_destroy(context)
            return nil
        }
        let writer = EventLoopDurableWriter(eventLoop: loop, context: context, eventDescriptor: descriptor)
        // Registered when this loop next turns; a write finished before that is counted by the
        // eventfd and seen as soon as the channel is registered.
        NIOPipeBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(CompletionHandler(writer: writer)) }
            }
            .takingOwnershipOfDescriptor(input: descriptor)
            .whenFailure { _ in
                // The loop cannot watch it (the bootstrap refused the descriptor): no more
                // writes through it, and the writes already submitted (rare: the first define
                // on this loop) are waited for here.
                writer.channelClosed()
                Glibc.close(descriptor)
            }
        return writer
    }

    /// Writes `length` bytes of `buffer` at `offset` of `descriptor` (opened with `O_DIRECT`;
    /// `buffer`, `length` and `offset` aligned as it needs), durably, and calls `completion` on
    /// ``eventLoop`` once the data is on stable storage. Call on ``eventLoop``; `buffer` must stay
    /// valid until `completion` is called.
    ///
    /// `completion` gets the bytes written, or `-errno` (`-EINVAL`: this file or kernel takes no
    /// such write; `-ESHUTDOWN`: the writer is closed; in both, nothing was written); and how
    /// the submission held the loop. The kernel finishes a write inside the submission when the
    /// disk has it before the submission returns, and then waits for its flush there too. A
    /// write that could not be submitted calls `completion` before this returns.
    func write(
        descriptor: Int32, buffer: UnsafeRawPointer, length: Int, offset: Int,
        completion: @escaping (_ result: Int64, _ submission: Submission) -> Void
    ) {
        precondition(eventLoop.inEventLoop, "a durable write is submitted on its writer's event loop")
        guard !closed else { return completion(-Int64(ESHUTDOWN), Submission(duration: .zero, waited: false)) }
        let token = nextToken
        nextToken += 1
        let clock = ContinuousClock()
        let switchesBefore = corral_thread_voluntary_switches()
        let start = clock.now
        let submitted = corral_aio_submit_durable_write(context, descriptor, buffer, length, off_t(offset), eventDescriptor, token) == 0
        let failure = errno
        let submission = Submission(duration: clock.now - start, waited: corral_thread_voluntary_switches() != switchesBefore)
        guard submitted else { return completion(-Int64(failure), submission) }
        pending[token] = { result in completion(result, submission) }
    }

    /// How a submission held its loop.
    struct Submission: Sendable {
        /// From the call to its return.
        var duration: Duration
        /// Whether the loop's thread waited inside it (for the disk, or a lock in the kernel),
        /// rather than only running, or being preempted by other threads (a busy host).
        var waited: Bool
    }

    /// The eventfd counted finished writes: hands each its result.
    fileprivate func reap() {
        while reapOnce(waitingForOne: false) == Self.reapBatch {}
    }

    /// The loop no longer watches the eventfd (it is closing): the writes in flight are waited
    /// for here (at most 10 s each; the disk finishes them) so that each caller learns whether
    /// its write is durable, no more are taken, and the AIO context is given back.
    fileprivate func channelClosed() {
        closed = true
        while !pending.isEmpty, reapOnce(waitingForOne: true) > 0 {}
        // Any still unfinished: reported as failed, their journal records not counted (the
        // context stays: destroying it would wait for them).
        guard pending.isEmpty else {
            let unfinished = pending.values
            pending.removeAll()
            for completion in unfinished { completion(-Int64(EIO)) }
            return
        }
        corral_aio_destroy(context)
    }

    /// How many finished writes one reap collects at most.
    private static let reapBatch = 16

    /// Collects finished writes (waiting up to 10 s for one when `waitingForOne`) and resumes
    /// their callers; returns how many.
    private func reapOnce(waitingForOne: Bool) -> Int {
        var completions = [corral_aio_completion](repeating: corral_aio_completion(), count: Self.reapBatch)
        let count = completions.withUnsafeMutableBufferPointer {
            corral_aio_reap(context, $0.baseAddress, Int32($0.count), waitingForOne ? 1 : 0, waitingForOne ? 10_000 : 0)
        }
        guard count > 0 else { return 0 }
        for completion in completions.prefix(Int(count)) {
            pending.removeValue(forKey: completion.token)?(completion.result)
        }
        return Int(count)
    }

    /// Reads the eventfd's counts (their value does not matter) and reaps.
    private final class CompletionHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let writer: EventLoopDurableWriter

        init(writer: EventLoopDurableWriter) { self.writer = writer }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            writer.reap()
        }

        func channelInactive(context: ChannelHandlerContext) {
            writer.channelClosed()
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }
}
