public import CorralProtocol
public import NIOCore
import NIOConcurrencyHelpers
import XDR

/// What a stream from the daemon carries.
public enum StreamData: Sendable {
    /// Bytes.
    case data(ByteBuffer)
    /// A hole of this many bytes (only on sparse streams).
    case hole(UInt64)
}

/// The receiving end of one stream inside the connection's handler: packets are queued for
/// ``CorralStream/receive()``; when too many wait, the connection stops reading until the
/// reader catches up (so a slow disk does not fill memory).
final class ClientStreamInbox: @unchecked Sendable {  // state guarded by `lock`
    enum Item {
        case data(ByteBuffer)
        case hole(UInt64)
        case end
        case finished
        case failed(CorralClientError)
    }

    /// How many packets may wait before the connection stops reading (64 × 256 KiB).
    static let queueLimit = 64

    let procedure: Int32
    private let lock = NIOLock()
    private var serial: UInt32?
    private var channel: (any Channel)?
    private var queue: [Item] = []
    private var waiter: CheckedContinuation<Item, Never>?
    private var pausedReading = false
    /// How the stream ended (finished or failed), once it has: every later wait gets it again.
    private var ending: Item?
    private var closed = false

    init(procedure: Int32) {
        self.procedure = procedure
    }

    /// The call was sent with `serial` (on the event loop).
    func opened(serial: UInt32, channel: any Channel) {
        lock.withLock {
            self.serial = serial
            self.channel = channel
        }
    }

    var identity: (UInt32, any Channel)? {
        lock.withLock { serial.flatMap { s in channel.map { (s, $0) } } }
    }

    /// A packet for this stream (on the event loop). Returns whether the stream stays open.
    func received(_ frame: RPCFrame) -> Bool {
        let item: Item
        switch (frame.header.type, frame.header.status) {
        case (.streamHole, _):
            var body = frame.body
            guard let length = try? body.readXDRUInt64() else {
                item = .failed(CorralClientError(code: .protocolViolation, message: "malformed stream hole"))
                break
            }
            item = .hole(length)
        case (_, .continue):
            item = frame.body.readableBytes == 0 ? .end : .data(frame.body)
        case (_, .ok):
            item = .finished
        case (_, .error):
            let error = (try? RemoteError(xdrRecord: frame.body)).map(CorralClientError.init(remote:))
                ?? CorralClientError(code: .protocolViolation, message: "the stream failed")
            item = .failed(error)
        }
        deliver(item)
        switch item {
        case .finished, .failed: return false
        default: return true
        }
    }

    func connectionClosed(_ reason: CorralClientError) {
        deliver(.failed(reason))
    }

    private func deliver(_ item: Item) {
        let (waiter, pause): (CheckedContinuation<Item, Never>?, (any Channel)?) = lock.withLock {
            switch item {
            case .finished, .failed: if ending == nil { ending = item }
            default: break
            }
            if let waiter = self.waiter {
                self.waiter = nil
                return (waiter, nil)
            }
            queue.append(item)
            if queue.count >= Self.queueLimit && !pausedReading, let channel {
                pausedReading = true
                return (nil, channel)
            }
            return (nil, nil)
        }
        waiter?.resume(returning: item)
        pause?.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
    }

    /// The next item, waiting for it.
    func next() async -> Item {
        let (ready, resume): (Item?, (any Channel)?) = lock.withLock {
            guard !queue.isEmpty else { return (ending, nil) }
            let item = queue.removeFirst()
            if pausedReading && queue.count < Self.queueLimit / 2, let channel {
                pausedReading = false
                return (item, channel)
            }
            return (item, nil)
        }
        if let resume {
            resume.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
            resume.read()
        }
        if let ready { return ready }
        return await withCheckedContinuation { continuation in
            let immediate: Item? = lock.withLock {
                if !queue.isEmpty { return queue.removeFirst() }
                if let ending { return ending }
                waiter = continuation
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }
}

/// A libvirt stream opened by a call (`vol-upload`, `vol-download`, a console…), on a
/// ``CorralConnection``: send data (and holes) to the daemon, receive what it sends, then finish
/// or abort. The same protocol as libvirt's `virStream`, so it works against libvirtd too.
public final class CorralStream: Sendable {
    private let inbox: ClientStreamInbox
    private let program: RPCProgram

    init(inbox: ClientStreamInbox, program: RPCProgram) {
        self.inbox = inbox
        self.program = program
    }

    /// libvirt's data packet size.
    public static let chunkSize = 262_120

    private func packet(type: RPCMessageType = .stream, status: RPCMessageStatus, _ write: (inout ByteBuffer) -> Void = { _ in }) throws(CorralClientError) -> (ByteBuffer, any Channel) {
        guard let (serial, channel) = inbox.identity else {
            throw CorralClientError(code: .connectionClosed, message: "the stream is not open")
        }
        var buffer = channel.allocator.buffer(capacity: 32)
        buffer.writeRPCPacket(header: RPCHeader(program: program, procedure: inbox.procedure, type: type, serial: serial, status: status), write)
        return (buffer, channel)
    }

    private func write(_ buffer: ByteBuffer, on channel: any Channel) async throws(CorralClientError) {
        do {
            try await channel.writeAndFlush(ClientOutbound.streamPacket(buffer)).get()
        } catch {
            throw CorralClientError(code: .connectionClosed, message: "the connection to the daemon closed: \(CorralConnection.describe(error))")
        }
    }

    /// Sends `bytes` (in packets of at most ``chunkSize``); returns once they are written to the
    /// socket, so a sender never runs ahead of the connection.
    public func send(_ bytes: ByteBuffer) async throws(CorralClientError) {
        var remaining = bytes
        while remaining.readableBytes > 0 {
            let chunk = remaining.readSlice(length: min(Self.chunkSize, remaining.readableBytes))!
            let (buffer, channel) = try packet(status: .continue) { $0.writeImmutableBuffer(chunk) }
            try await write(buffer, on: channel)
        }
    }

    /// Sends one packet of data made with `ByteBuffer.streamDataBuffer` (at most ``chunkSize``
    /// bytes) without copying it; the future completes when it is written.
    func sendWithoutWaiting(_ data: consuming ByteBuffer) throws(CorralClientError) -> EventLoopFuture<Void> {
        guard let (serial, channel) = inbox.identity else {
            throw CorralClientError(code: .connectionClosed, message: "the stream is not open")
        }
        let header = RPCHeader(program: program, procedure: inbox.procedure, type: .stream, serial: serial, status: .continue)
        return channel.writeAndFlush(ClientOutbound.streamPacket(ByteBuffer.streamPacket(data, header: header, allocator: channel.allocator)))
    }

    /// Waits for a write started by ``sendWithoutWaiting(_:)``.
    func waitFor(_ write: EventLoopFuture<Void>) async throws(CorralClientError) {
        do {
            try await write.get()
        } catch {
            throw CorralClientError(code: .connectionClosed, message: "the connection to the daemon closed: \(CorralConnection.describe(error))")
        }
    }

    /// Sends a hole of `length` bytes (on streams opened sparse).
    public func sendHole(_ length: UInt64) async throws(CorralClientError) {
        let (buffer, channel) = try packet(type: .streamHole, status: .continue) {
            $0.writeXDRUInt64(length)
            $0.writeXDRUInt32(0)
        }
        try await write(buffer, on: channel)
    }

    /// The next data or hole from the daemon; `nil` at the end of its data.
    public func receive() async throws(CorralClientError) -> StreamData? {
        switch await inbox.next() {
        case .data(let bytes): return .data(bytes)
        case .hole(let length): return .hole(length)
        case .end: return nil
        case .finished: throw CorralClientError(code: .protocolViolation, message: "the daemon ended the stream unasked")
        case .failed(let error): throw error
        }
    }

    /// Finishes the stream: the daemon completes the transfer and says whether it worked.
    public func finish() async throws(CorralClientError) {
        let (buffer, channel) = try packet(status: .ok)
        try await write(buffer, on: channel)
        while true {
            switch await inbox.next() {
            case .finished: return
            case .failed(let error): throw error
            case .data, .hole, .end: continue  // what the daemon sent before it saw the finish
            }
        }
    }

    /// Aborts the stream (the daemon undoes what it can).
    public func abort() async {
        guard let (buffer, channel) = try? packet(status: .error) else { return }
        try? await write(buffer, on: channel)
    }
}

extension CorralConnection {
    /// Calls procedure `P`, which opens a stream, and returns its reply and the stream.
    public func openStream<P: RPCProcedure>(_ procedure: P.Type, _ arguments: P.Arguments) async throws(CorralClientError) -> (P.Reply, CorralStream) {
        let inbox = ClientStreamInbox(procedure: P.procedure)
        let reply = try await rawChannel.call(procedure, arguments, stream: inbox)
        return (reply, CorralStream(inbox: inbox, program: P.program))
    }
}
