import CorralProtocol
import Logging
import NIOCore
import NIOPosix
import XDR

/// Runs one client connection: packets in, replies out.
///
/// The handler holds no protocol logic: it asks ``ServerConnectionStateMachine`` what each packet
/// means and does it. Replies to all calls that arrived in one read are batched into one write.
/// When the client stops reading, the handler stops reading from it too (backpressure), so a slow
/// client only ever costs its own buffers.
final class RPCServerHandler: ChannelInboundHandler {
    typealias InboundIn = RPCFrame
    typealias OutboundOut = ByteBuffer

    private var stateMachine: ServerConnectionStateMachine
    private let procedures: ProcedureTable
    private let connectionClosed: @Sendable (UInt64) -> Void
    private let connectionID: UInt64
    private var logger: Logger
    private var pending: ByteBuffer?
    private var closeAfterFlush = false
    private let limits: ConnectionLimits
    /// Calls handed to a task or a future, not answered yet.
    private var callsInFlight = 0
    /// Stream data packets taken from the client but not yet consumed by their endpoint.
    private var streamPacketsInFlight = 0
    /// At most this many (8 MiB of 256 KiB packets) before the connection stops reading: the
    /// flow control of uploads, apart from the call slots so that a stream does not starve calls.
    static let maximumStreamPacketsInFlight = 32
    /// The daemon-wide count of the same, which a graceful stop waits for.
    private let daemonCallsInFlight: InFlightCalls
    /// Calls that arrived past ``ConnectionLimits/maximumRequestsPerClient``, in order.
    private var waitingCalls = CircularBuffer<RPCFrame>()
    private var openTimer: Scheduled<Void>?
    /// The connection's open streams (created with the channel).
    private var streams: ConnectionStreams?

    init(
        procedures: ProcedureTable, socketIsReadOnly: Bool, connectionID: UInt64, limits: ConnectionLimits,
        logger: Logger, callsInFlight: InFlightCalls, connectionClosed: @escaping @Sendable (UInt64) -> Void
    ) {
        self.daemonCallsInFlight = callsInFlight
        self.limits = limits
        self.connectionClosed = connectionClosed
        self.stateMachine = ServerConnectionStateMachine(socketIsReadOnly: socketIsReadOnly)
        self.procedures = procedures
        self.connectionID = connectionID
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(connectionID)"
    }

    func channelActive(context: ChannelHandlerContext) {
        logger.debug("client connected")
        let channel = context.channel
        streams = ConnectionStreams(channel: channel)
        let logger = self.logger
        openTimer = context.eventLoop.scheduleTask(in: limits.openTimeout) {
            logger.info("closing a connection that did not open within the time allowed")
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        logger.debug("client disconnected")
        openTimer?.cancel()
        waitingCalls.removeAll()
        streams?.connectionClosed()
        connectionClosed(connectionID)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard callsInFlight < limits.maximumRequestsPerClient, waitingCalls.isEmpty else {
            waitingCalls.append(frame)
            updateReading(context: context)
            return
        }
        process(frame, context: context)
    }

    /// Stops reading while the client has its maximum of calls in flight or cannot keep up
    /// with its replies; reads again when both clear.
    private func updateReading(context: ChannelHandlerContext) {
        let read = context.channel.isWritable && callsInFlight < limits.maximumRequestsPerClient && waitingCalls.isEmpty
            && streamPacketsInFlight < Self.maximumStreamPacketsInFlight
        context.channel.setOption(ChannelOptions.autoRead, value: read).whenFailure { _ in }
    }

    /// A call handed elsewhere has been answered: take the calls that waited for its place.
    private func callFinished(context: ChannelHandlerContext) {
        callsInFlight -= 1
        while callsInFlight < limits.maximumRequestsPerClient, let frame = waitingCalls.popFirst() {
            process(frame, context: context)
        }
        flushPending(context: context)
        updateReading(context: context)
    }

    /// The closure that frees a stream packet's place once its endpoint has taken it.
    private func streamPacketConsumed(_ context: ChannelHandlerContext) -> @Sendable () -> Void {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        return {
            eventLoop.execute {
                let (handler, context) = bound.value
                handler.streamPacketsInFlight -= 1
                if handler.streamPacketsInFlight == Self.maximumStreamPacketsInFlight - 1 { handler.updateReading(context: context) }
            }
        }
    }

    /// Runs `body` on the connection's event loop with this handler and its context.
    private func onLoop(_ context: ChannelHandlerContext) -> @Sendable () -> Void {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        let daemonCalls = daemonCallsInFlight
        daemonCalls.begin()
        return {
            daemonCalls.end()
            if eventLoop.inEventLoop {
                let (handler, context) = bound.value
                handler.callFinished(context: context)
            } else {
                eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.callFinished(context: context)
                }
            }
        }
    }

    private func process(_ frame: RPCFrame, context: ChannelHandlerContext) {
        var out = pending ?? context.channel.allocator.buffer(capacity: 256)
        defer { pending = out }
        let header = frame.header
        switch stateMachine.packetReceived(header) {
        case .ignore:
            break
        case .sendPong:
            out.writeRPCPacket(header: RPCHeader(program: .keepalive, procedure: KeepaliveProcedure.pong.rawValue, type: .message, serial: 0))
        case .replyError(let error):
            out.writeRPCPacket(header: header.reply(status: .error), payload: error)
        case .streamPacket:
            streams?.packetReceived(frame) {
                streamPacketsInFlight += 1
                if streamPacketsInFlight >= Self.maximumStreamPacketsInFlight { updateReading(context: context) }
                return streamPacketConsumed(context)
            }
        case .replyAndClose:
            out.writeRPCPacket(header: header.reply(status: .ok))
            closeAfterFlush = true
        case .dispatchOpen:
            do throws(XDRDecodingError) {
                let arguments = try Remote.ConnectOpen.Arguments(xdrRecord: frame.body)
                if let error = stateMachine.openRequested(name: arguments.name, flags: ConnectOpenFlags(rawValue: arguments.flags)) {
                    out.writeRPCPacket(header: header.reply(status: .error), payload: error)
                } else {
                    logger.debug("connection opened", metadata: ["uri": "\(stateMachine.openURI ?? "")", "readOnly": "\(stateMachine.isReadOnly)"])
                    openTimer?.cancel()
                    openTimer = nil
                    out.writeRPCPacket(header: header.reply(status: .ok))
                }
            } catch {
                out.writeRPCPacket(header: header.reply(status: .error), payload: RemoteError.undecodablePayload(error))
            }
        case .dispatchRemote, .dispatchQEMU:
            let callContext = CallContext(connectionID: connectionID, isReadOnly: stateMachine.isReadOnly, openURI: stateMachine.openURI, channel: context.channel)
            switch procedures.handler(for: header) {
            case nil:
                out.writeRPCPacket(header: header.reply(status: .error), payload: RemoteError.unknownProcedure(header.procedure))
            case .immediate(let handler):
                handler(header, frame.body, callContext, &out)
            case .deferred(let handler):
                callsInFlight += 1
                let channel = context.channel
                let finished = onLoop(context)
                handler(header, frame.body, callContext, context.eventLoop).whenSuccess { reply in
                    channel.writeAndFlush(reply, promise: nil)
                    finished()
                }
            case .streamOpening(let handler):
                callsInFlight += 1
                let body = frame.body
                let finished = onLoop(context)
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let eventLoop = context.eventLoop
                Task {
                    let (reply, endpoint) = await handler(header, body, callContext)
                    eventLoop.execute {
                        let (handler, context) = bound.value
                        context.channel.writeAndFlush(reply, promise: nil)
                        if let endpoint {
                            if let streams = handler.streams, context.channel.isActive {
                                streams.open(header, endpoint: endpoint)
                            } else {
                                Task { await endpoint.abort() }
                            }
                        }
                        finished()
                    }
                }
            case .asynchronous(let handler):
                callsInFlight += 1
                let channel = context.channel
                let body = frame.body
                let finished = onLoop(context)
                Task {
                    // One task per long call (start, destroy…): replies are matched by serial, so
                    // they may finish in any order; the connection keeps serving meanwhile.
                    let reply = await handler(header, body, callContext)
                    channel.writeAndFlush(reply, promise: nil)
                    finished()
                }
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushPending(context: context)
        context.fireChannelReadComplete()
    }

    private func flushPending(context: ChannelHandlerContext) {
        guard let buffer = pending, buffer.readableBytes > 0 else { return }
        pending = nil
        if closeAfterFlush {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
        } else {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Stop reading from a client that does not read its replies; resume when it catches up.
        updateReading(context: context)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Framing errors (a bad length, a malformed header) cannot be recovered from: close this
        // connection only.
        logger.notice("closing connection after a protocol error", metadata: ["error": "\(error)"])
        flushPending(context: context)
        context.close(promise: nil)
    }
}
