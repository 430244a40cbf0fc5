import CorralProtocol
import Glibc
import NIOCore
import NIOPosix
import Synchronization

/// The daemon's end of a guest's character device — the pseudo-terminal of a `pty` device or
/// the socket of a `unix` one — as an evented NIO channel with read backpressure: at most
/// ``bufferLimit`` bytes wait for the client, then the device is not read until they leave.
///
/// A guest's serial port hands QEMU one byte per write, so reading whenever the device is
/// readable costs a wake-up, a read and a stream packet per byte (half a core at 50 KiB/s, in
/// either daemon). A read that brings less than ``smallRead`` bytes therefore rests
/// ``coalescingDelay`` before the next, letting the kernel's buffer gather what follows; bulk
/// output is read back to back. One millisecond is far below what a person at a console notices.
final class CharacterDeviceConnection: Sendable {
    /// How many unread bytes stop the reading (four stream packets).
    static let bufferLimit = 4 * 262_120
    /// A read cycle that brought fewer bytes than this is followed by a rest.
    static let smallRead = 4096
    /// The rest after a small read.
    static let coalescingDelay = TimeAmount.milliseconds(1)

    private struct State {
        var buffered: [ByteBuffer] = []
        var bufferedBytes = 0
        var ended = false
        /// Set when the connection was closed by the daemon (a forced take-over): the reader
        /// hears this instead of an ordinary end.
        var closedBecause: RemoteError?
        var waiter: CheckedContinuation<Void, Never>?
        /// A read is asked of the channel and not yet complete.
        var reading = false
        /// Bytes the current read cycle brought so far.
        var cycleBytes = 0
        /// The reading rests after a small read (``coalescingDelay``).
        var resting = false
    }

    private let state = Mutex(State())
    private let channel: any Channel

    private init(channel: any Channel) {
        self.channel = channel
    }

    /// Opens the pseudo-terminal `path` (the guest side of a `pty` device) in raw mode.
    static func openPseudoTerminal(_ path: String, group: any EventLoopGroup) async throws(RemoteError) -> CharacterDeviceConnection {
        let fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw RemoteError(code: .systemError, domain: .streams, detail: "Unable to open device \(path): \(String(cString: strerror(errno)))")
        }
        // No echo, no line editing, no character translation: the bytes as the guest sends them.
        var attributes = termios()
        if tcgetattr(fd, &attributes) == 0 {
            cfmakeraw(&attributes)
            _ = tcsetattr(fd, TCSANOW, &attributes)
        }
        do throws(RemoteError) {
            return try await attach(describing: "Unable to open device \(path)") { initializer in
                NIOPipeBootstrap(group: group).channelOption(.autoRead, value: false).channelInitializer(initializer)
                    .takingOwnershipOfDescriptor(inputOutput: fd)
            }
        } catch {
            // A bootstrap that failed leaves the descriptor to its caller.
            Glibc.close(fd)
            throw error
        }
    }

    /// Connects to the unix socket `path` (the server side QEMU listens on).
    static func connectUnixSocket(_ path: String, group: any EventLoopGroup) async throws(RemoteError) -> CharacterDeviceConnection {
        try await attach(describing: "Failed to connect socket to '\(path)'") { initializer in
            ClientBootstrap(group: group).channelOption(.autoRead, value: false).channelInitializer(initializer)
                .connect(unixDomainSocketPath: path)
        }
    }

    /// Makes the channel `bootstrap` opens (given the initializer that puts the reader in its
    /// pipeline) into a connection, and starts reading.
    private static func attach(
        describing what: String,
        _ bootstrap: (@escaping @Sendable (any Channel) -> EventLoopFuture<Void>) -> EventLoopFuture<any Channel>
    ) async throws(RemoteError) -> CharacterDeviceConnection {
        let holder = Mutex<CharacterDeviceConnection?>(nil)
        do {
            let channel = try await bootstrap { channel in
                let connection = CharacterDeviceConnection(channel: channel)
                holder.withLock { $0 = connection }
                return channel.pipeline.addHandler(Reader(connection: connection))
            }.get()
            guard let connection = holder.withLock({ $0 }) else {
                channel.close(promise: nil)
                throw ChannelError.ioOnClosedChannel
            }
            connection.requestRead()
            return connection
        } catch {
            throw RemoteError(code: .systemError, domain: .streams, detail: "\(what): \(error)")
        }
    }

    /// The next bytes from the device, at most `count` buffers of at most `maximum` bytes each;
    /// empty at the end. Returns early (empty) when the calling task is cancelled.
    func read(maximum: Int, count: Int) async throws(RemoteError) -> [ByteBuffer] {
        while true {
            if Task.isCancelled { return [] }
            enum Outcome { case data([ByteBuffer]), end, failure(RemoteError), wait }
            let outcome: Outcome = state.withLock { state in
                if !state.buffered.isEmpty {
                    var taken: [ByteBuffer] = []
                    while taken.count < count, !state.buffered.isEmpty {
                        var first = state.buffered[0]
                        if first.readableBytes > maximum {
                            taken.append(first.readSlice(length: maximum)!)
                            state.buffered[0] = first
                        } else {
                            taken.append(first)
                            state.buffered.removeFirst()
                        }
                        state.bufferedBytes -= taken.last!.readableBytes
                    }
                    return .data(taken)
                }
                if let reason = state.closedBecause { return .failure(reason) }
                return state.ended ? .end : .wait
            }
            switch outcome {
            case .data(let buffers):
                requestRead()
                return buffers
            case .end:
                return []
            case .failure(let error):
                throw error
            case .wait:
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = state.withLock { state -> Bool in
                            if !state.buffered.isEmpty || state.ended || Task.isCancelled { return true }
                            state.waiter = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.wake()
                }
            }
        }
    }

    /// Sends bytes to the device; returns once they are written.
    func write(_ data: [ByteBuffer]) async throws(RemoteError) {
        guard !data.isEmpty else { return }
        let channel = self.channel
        let written = channel.eventLoop.flatSubmit {
            var last: EventLoopFuture<Void> = channel.eventLoop.makeSucceededVoidFuture()
            for buffer in data { last = channel.write(buffer) }
            channel.flush()
            return last
        }
        do {
            try await written.get()
        } catch {
            throw RemoteError(code: .systemError, domain: .streams, detail: "cannot write to the character device: \(error)")
        }
    }

    /// Closes the device; a reader waiting hears `reason` (or the end when `nil`).
    func close(because reason: RemoteError? = nil) {
        state.withLock { state in
            if state.closedBecause == nil { state.closedBecause = reason }
            state.ended = true
        }
        wake()
        channel.close(promise: nil)
    }

    private func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Asks the channel for more when the buffer has room and no read is pending.
    private func requestRead() {
        let ask = state.withLock { state -> Bool in
            guard !state.ended, !state.reading, !state.resting, state.bufferedBytes < Self.bufferLimit else { return false }
            state.reading = true
            return true
        }
        if ask { channel.eventLoop.execute { self.channel.read() } }
    }

    fileprivate func received(_ buffer: ByteBuffer) {
        state.withLock { state in
            state.buffered.append(buffer)
            state.bufferedBytes += buffer.readableBytes
            state.cycleBytes += buffer.readableBytes
        }
        wake()
    }

    fileprivate func readComplete() {
        let rest = state.withLock { state -> Bool in
            state.reading = false
            state.resting = state.cycleBytes < Self.smallRead
            state.cycleBytes = 0
            return state.resting
        }
        if rest {
            channel.eventLoop.scheduleTask(in: Self.coalescingDelay) {
                self.state.withLock { $0.resting = false }
                self.requestRead()
            }
        } else {
            requestRead()
        }
    }

    fileprivate func ended() {
        state.withLock { $0.ended = true }
        wake()
    }

    /// Feeds the connection from the channel.
    private final class Reader: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let connection: CharacterDeviceConnection

        init(connection: CharacterDeviceConnection) {
            self.connection = connection
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            connection.received(unwrapInboundIn(data))
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            connection.readComplete()
        }

        func channelInactive(context: ChannelHandlerContext) {
            connection.ended()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // A pseudo-terminal whose other side (QEMU) closed reads EIO: the end of the device.
            connection.ended()
            context.close(promise: nil)
        }
    }
}
