public import CorralJSON
import Foundation
public import NIOCore
public import NIOPosix
import POSIXSupport

/// A QMP client over a Unix socket: negotiates, pipelines commands, delivers events.
///
/// ```swift
/// let qmp = try await QMPClient.connect(unixSocket: "/run/corral/domains/vm/qmp.sock")
/// let status = try await qmp.queryStatus()
/// for await event in qmp.events { … }
/// ```
public final class QMPClient: Sendable {
    /// The greeting QEMU sent (its version and capabilities).
    public let greeting: JSONValue
    /// Events in arrival order. One consumer.
    public let events: AsyncStream<QMPEvent>
    private let channel: any Channel
    private let waiters: QMPEventWaiters

    private init(channel: any Channel, greeting: JSONValue, events: AsyncStream<QMPEvent>, waiters: QMPEventWaiters) {
        self.channel = channel
        self.greeting = greeting
        self.events = events
        self.waiters = waiters
    }

    /// The largest message accepted from the peer.
    public static let maximumMessageLength = 16 << 20

    /// Connects to a QMP Unix socket and negotiates capabilities, enabling those of
    /// `capabilities` that QEMU offers (see ``QMPSessionStateMachine/init(idPrefix:capabilities:)``).
    public static func connect(
        unixSocket path: String,
        capabilities: [String] = [],
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(QMPError) -> QMPClient {
        let (events, continuation) = AsyncStream<QMPEvent>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let ready = eventLoopGroup.any().makePromise(of: JSONValue.self)
        let waiters = QMPEventWaiters()
        let channel: any Channel
        do {
            // The socket is connected here, not by NIO, so that its descriptor is known: a file
            // handed to QEMU (`getfd`) travels on it as ancillary data.
            let socket = try UnixSocket.connect(path)
            channel = try await ClientBootstrap(group: eventLoopGroup)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maximumLength: maximumMessageLength)))
                        try channel.pipeline.syncOperations.addHandler(
                            QMPChannelHandler(ready: ready, events: continuation, waiters: waiters, capabilities: capabilities, socket: socket))
                    }
                }
                .withConnectedSocket(socket)
                .get()
        } catch {
            continuation.finish()
            ready.fail(error)
            throw QMPError(code: .connectionFailed, message: "cannot connect to the QMP socket \(path): \(error)")
        }
        do {
            let greeting = try await ready.futureResult.get()
            return QMPClient(channel: channel, greeting: greeting, events: events, waiters: waiters)
        } catch {
            try? await channel.close()
            throw (error as? QMPError) ?? QMPError(code: .connectionClosed, message: "the QMP session ended during negotiation: \(error)")
        }
    }

    /// Runs `command` with `arguments` and returns its `return` value.
    ///
    /// - Throws: ``QMPError``: ``QMPError/Code/commandFailed`` with QEMU's class and description
    ///   when QEMU refuses it, or a session error.
    public func execute(_ command: String, arguments: JSONValue? = nil) async throws(QMPError) -> JSONValue {
        try await send { QMPCommand(name: command, arguments: arguments, promise: $0) }
    }

    /// Runs `command` with the open file `descriptor` attached (`SCM_RIGHTS`), as `getfd` and
    /// `add-fd` take files; the caller keeps its descriptor and closes it when it likes (QEMU has
    /// its own copy once the command is read).
    public func execute(_ command: String, arguments: JSONValue? = nil, passing descriptor: Int32) async throws(QMPError) -> JSONValue {
        try await send { QMPCommand(name: command, arguments: arguments, promise: $0, descriptor: descriptor) }
    }

    /// Sends a whole QMP message of the caller's and returns QEMU's whole reply, error replies
    /// included; the caller's `id`, if any, is kept (the session uses its own on the wire).
    public func executeRaw(_ message: JSONValue) async throws(QMPError) -> JSONValue {
        try await send { QMPCommand(name: "", arguments: message, promise: $0, raw: true) }
    }

    /// ``executeRaw(_:)`` as a future, for callers on an event loop that must not hop through a
    /// task (the daemon's passthrough fast path). Fails with ``QMPError``.
    public func executeRawFuture(_ message: JSONValue) -> EventLoopFuture<JSONValue> {
        submit { QMPCommand(name: "", arguments: message, promise: $0, raw: true) }
    }

    /// Hands a command to the channel handler; the future completes with its result.
    private func submit(_ makeCommand: (EventLoopPromise<JSONValue>) -> QMPCommand) -> EventLoopFuture<JSONValue> {
        let promise = channel.eventLoop.makePromise(of: JSONValue.self)
        // On a closed channel the write never reaches the handler, so nothing would complete the
        // command: fail it here. (When the handler is reached it always succeeds the write.)
        channel.writeAndFlush(makeCommand(promise)).whenFailure { _ in
            promise.fail(QMPError(code: .connectionClosed, message: "the QMP session is closed"))
        }
        return promise.futureResult
    }

    /// Hands a command to the channel handler and waits for its result.
    private func send(_ makeCommand: (EventLoopPromise<JSONValue>) -> QMPCommand) async throws(QMPError) -> JSONValue {
        let future = submit(makeCommand)
        do {
            return try await future.get()
        } catch let error as QMPError {
            throw error
        } catch {
            throw QMPError(code: .connectionClosed, message: "the QMP session failed: \(error)")
        }
    }

    /// The next event named one of `names` that arrives after this call, or `nil` if none
    /// comes within `timeout` or the session closes. The event still goes to ``events`` too.
    /// Start waiting before the command whose effect the event reports, then run the command.
    public func nextEvent(named names: Set<String>, within timeout: TimeAmount) -> EventLoopFuture<QMPEvent?> {
        waiters.add(names, on: channel.eventLoop, timeout: timeout)
    }

    /// Closes the session.
    public func close() async {
        try? await channel.close()
    }

    /// The event loop the session's channel runs on.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Whether the session is open.
    public var isOpen: Bool { channel.isActive }
}

/// A command on its way to the handler.
struct QMPCommand: @unchecked Sendable {  // the promise is thread-safe; the rest are values
    var name: String
    var arguments: JSONValue?
    var promise: EventLoopPromise<JSONValue>
    var raw = false
    /// A file to send with the command (`SCM_RIGHTS`).
    var descriptor: Int32?
}

/// Drives ``QMPSessionStateMachine`` from channel events.
final class QMPChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = QMPCommand
    typealias OutboundOut = ByteBuffer

    private var session: QMPSessionStateMachine<EventLoopPromise<JSONValue>>
    private var ready: EventLoopPromise<JSONValue>?
    private let events: AsyncStream<QMPEvent>.Continuation
    private let waiters: QMPEventWaiters

    /// The connection's socket, for the commands that carry a file.
    private let socket: Int32
    /// The file the command being written carries, until its message is sent.
    private var attachedDescriptor: Int32?

    init(ready: EventLoopPromise<JSONValue>, events: AsyncStream<QMPEvent>.Continuation, waiters: QMPEventWaiters, capabilities: [String], socket: Int32) {
        self.ready = ready
        self.events = events
        self.waiters = waiters
        self.socket = socket
        self.session = QMPSessionStateMachine(capabilities: capabilities)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        let actions: [QMPSessionStateMachine<EventLoopPromise<JSONValue>>.Action]
        do throws(JSONParseError) {
            let message = try JSONValue.parse(line.readableBytesView)
            actions = session.messageReceived(message)
        } catch {
            actions = session.garbageReceived(error.message)
        }
        run(actions, context: context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        // The command's message is sent in this same call when the session is ready (a command
        // queued before then goes without its file, and QEMU's refusal completes it).
        attachedDescriptor = command.descriptor
        defer { attachedDescriptor = nil }
        if command.raw {
            run(session.rawCommandRequested(command.arguments ?? .null, pending: command.promise), context: context)
        } else {
            run(session.commandRequested(command.name, arguments: command.arguments, pending: command.promise), context: context)
        }
        promise?.succeed()
    }

    private func run(_ actions: [QMPSessionStateMachine<EventLoopPromise<JSONValue>>.Action], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .send(let message) where attachedDescriptor != nil:
                // Written past NIO, on this event loop, after whatever NIO still holds: a message
                // with a file goes out only when nothing is queued ahead of it.
                let descriptor = attachedDescriptor ?? -1
                attachedDescriptor = nil
                let queued = (try? context.channel.syncOptions?.getOption(.bufferedWritableBytes)) ?? 0
                let outcome: UnixSocket.DescriptorSendOutcome =
                    queued == 0 && context.channel.isActive ? UnixSocket.send(socket, Array((message.description + "\n").utf8), passing: descriptor) : .notSent
                switch outcome {
                case .sent:
                    break
                case .notSent:
                    // The session goes on; only this command fails.
                    session.messageNotSent(message)?.fail(QMPError(code: .commandFailed, message: "cannot hand the file to QEMU's monitor now; try again"))
                case .partlySent:
                    run([.failAndClose(session.connectionClosed(), QMPError(code: .connectionClosed, message: "the QMP monitor's stream broke while sending a file"))], context: context)
                    return
                }
            case .send(let message):
                var buffer = context.channel.allocator.buffer(capacity: 128)
                buffer.writeBytes(message.utf8)
                buffer.writeInteger(UInt8(ascii: "\n"))
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            case .complete(let promise, let result):
                promise.completeWith(result.mapError { $0 as any Error })
            case .deliver(let event):
                waiters.deliver(event)
                events.yield(event)
            case .becameReady(let greeting):
                ready?.succeed(greeting)
                ready = nil
            case .failAndClose(let calls, let error):
                for call in calls { call.fail(error) }
                ready?.fail(error)
                ready = nil
                context.close(promise: nil)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        run([.failAndClose(session.connectionClosed(), QMPError(code: .protocolViolation, message: "\(error)"))], context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let error = QMPError(code: .connectionClosed, message: "the QMP monitor closed (QEMU exited?)")
        for call in session.connectionClosed() { call.fail(error) }
        ready?.fail(error)
        ready = nil
        waiters.close()
        events.finish()
        context.fireChannelInactive()
    }
}

/// Splits a byte stream into newline-terminated lines (a trailing carriage return dropped, empty
/// lines skipped), refusing lines over `maximumLength`: QMP and the guest agent both frame so.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer
    let maximumLength: Int
    private var scanned = 0

    /// Creates a decoder.
    public init(maximumLength: Int) { self.maximumLength = maximumLength }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        if let newline = view.dropFirst(scanned).firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.startIndex
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            scanned = 0
            if line.readableBytes > 0 && line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == 13 {
                line.moveWriterIndex(to: line.writerIndex - 1)
            }
            if line.readableBytes == 0 { return .continue }
            context.fireChannelRead(wrapInboundOut(line))
            return .continue
        }
        scanned = view.count
        if view.count > maximumLength { throw QMPError(code: .protocolViolation, message: "a QMP message longer than \(maximumLength) bytes") }
        return .needMoreData
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        try decode(context: context, buffer: &buffer)
    }
}
