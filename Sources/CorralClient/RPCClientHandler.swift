import CorralProtocol
import NIOCore
import XDR

/// One call on its way out: which procedure, how to write its arguments, and where the reply goes.
struct OutboundCall {
    var program: RPCProgram
    var procedure: Int32
    var writeArguments: @Sendable (inout ByteBuffer) -> Void
    var promise: EventLoopPromise<RPCFrame>
    /// The stream the call opens: registered with the call's serial before the call is sent,
    /// so data that arrives before the reply is kept.
    var stream: ClientStreamInbox? = nil
}

/// What the client writes: calls, and packets of its open streams.
enum ClientOutbound {
    case call(OutboundCall)
    /// A whole stream packet; the promise completes when it is written.
    case streamPacket(ByteBuffer)
}

/// Keepalive settings: after `interval` seconds without any packet from the server, send a PING;
/// after `count` unanswered PINGs, close the connection (libvirt's `virConnectSetKeepAlive`).
public struct KeepaliveConfiguration: Sendable, Hashable {
    /// Seconds of silence before a PING.
    public var interval: Int64
    /// Unanswered PINGs before the connection is considered dead.
    public var count: Int
    /// Creates settings.
    public init(interval: Int64 = 5, count: Int = 5) {
        self.interval = interval
        self.count = count
    }
}

/// Matches replies to calls by serial, answers PINGs, sends its own when the server is silent,
/// and hands everything else (events) to `eventSink`.
final class RPCClientHandler: ChannelDuplexHandler {
    typealias InboundIn = RPCFrame
    typealias OutboundIn = ClientOutbound
    typealias OutboundOut = ByteBuffer

    private var calls = ClientCallTable<EventLoopPromise<RPCFrame>>()
    /// Open streams by the serial of the call that opened them.
    private var streams: [UInt32: ClientStreamInbox] = [:]
    private let eventSink: @Sendable (RPCFrame) -> Void
    private let closedSink: @Sendable (CorralClientError?) -> Void
    private var keepalive: KeepaliveConfiguration?
    private var keepaliveTask: RepeatedTask?
    private var lastReceived = NIODeadline.now()
    private var unansweredPings = 0
    private var closeReason: CorralClientError?

    init(keepalive: KeepaliveConfiguration?, eventSink: @escaping @Sendable (RPCFrame) -> Void, closedSink: @escaping @Sendable (CorralClientError?) -> Void) {
        self.keepalive = keepalive
        self.eventSink = eventSink
        self.closedSink = closedSink
    }

    /// Turns client-side keepalive on (after the server said it supports it).
    func enableKeepalive(_ configuration: KeepaliveConfiguration, context: ChannelHandlerContext) {
        keepalive = configuration
        startKeepalive(context: context)
    }

    private func startKeepalive(context: ChannelHandlerContext) {
        guard let keepalive, keepaliveTask == nil else { return }
        let interval = TimeAmount.seconds(keepalive.interval)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        keepaliveTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = bound.value
            handler.keepaliveTick(context: context)
        }
    }

    private func keepaliveTick(context: ChannelHandlerContext) {
        guard let keepalive else { return }
        if NIODeadline.now() - lastReceived < .seconds(keepalive.interval) { return }
        if unansweredPings >= keepalive.count {
            closeReason = CorralClientError(code: .timeout, message: "connection closed: the daemon did not answer \(keepalive.count) keepalive requests")
            context.close(promise: nil)
            return
        }
        unansweredPings += 1
        var buffer = context.channel.allocator.buffer(capacity: 28)
        buffer.writeRPCPacket(header: RPCHeader(program: .keepalive, procedure: KeepaliveProcedure.ping.rawValue, type: .message, serial: 0))
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    func channelActive(context: ChannelHandlerContext) {
        startKeepalive(context: context)
        context.fireChannelActive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let call: OutboundCall
        switch unwrapOutboundIn(data) {
        case .streamPacket(let packet):
            context.write(wrapOutboundOut(packet), promise: promise)
            return
        case .call(let outbound):
            call = outbound
        }
        guard let serial = calls.callStarted(call.promise) else {
            call.promise.fail(closeReason ?? CorralClientError(code: .connectionClosed, message: "the connection is closed"))
            promise?.succeed()  // the call is completed; the caller's fallback must not complete it again
            return
        }
        if let stream = call.stream {
            stream.opened(serial: serial, channel: context.channel)
            streams[serial] = stream
        }
        var buffer = context.channel.allocator.buffer(capacity: 64)
        buffer.writeRPCPacket(header: RPCHeader(program: call.program, procedure: call.procedure, type: .call, serial: serial), call.writeArguments)
        context.write(wrapOutboundOut(buffer), promise: nil)
        promise?.succeed()  // the call is registered; a failed socket write fails it through channelInactive
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        lastReceived = .now()
        unansweredPings = 0
        switch calls.packetReceived(frame.header) {
        case .complete(let promise):
            promise.succeed(frame)
        case .deliverEvent:
            eventSink(frame)
        case .deliverStream:
            if let stream = streams[frame.header.serial], stream.procedure == frame.header.procedure {
                if !stream.received(frame) { streams[frame.header.serial] = nil }
            }
        case .sendPong:
            var buffer = context.channel.allocator.buffer(capacity: 28)
            buffer.writeRPCPacket(header: RPCHeader(program: .keepalive, procedure: KeepaliveProcedure.pong.rawValue, type: .message, serial: 0))
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        case .ignore:
            break
        case .protocolViolation(let why):
            closeReason = CorralClientError(code: .protocolViolation, message: "protocol error from the daemon: \(why)")
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        closeReason = closeReason ?? CorralClientError(code: .protocolViolation, message: "connection error: \(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        keepaliveTask?.cancel()
        keepaliveTask = nil
        let reason = closeReason ?? CorralClientError(code: .connectionClosed, message: "the connection to the daemon closed")
        for promise in calls.connectionClosed() { promise.fail(reason) }
        for stream in streams.values { stream.connectionClosed(reason) }
        streams.removeAll()
        closedSink(closeReason)
        context.fireChannelInactive()
    }
}
