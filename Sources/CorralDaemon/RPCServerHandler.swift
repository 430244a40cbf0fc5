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
    private let threadPool: NIOThreadPool
    private let connectionClosed: @Sendable (UInt64) -> Void
    private let connectionID: UInt64
    private var logger: Logger
    private var pending: ByteBuffer?
    private var closeAfterFlush = false

    init(
        procedures: ProcedureTable, threadPool: NIOThreadPool, socketIsReadOnly: Bool, connectionID: UInt64, logger: Logger,
        connectionClosed: @escaping @Sendable (UInt64) -> Void
    ) {
        self.connectionClosed = connectionClosed
        self.stateMachine = ServerConnectionStateMachine(socketIsReadOnly: socketIsReadOnly)
        self.procedures = procedures
        self.threadPool = threadPool
        self.connectionID = connectionID
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(connectionID)"
    }

    func channelActive(context: ChannelHandlerContext) {
        logger.debug("client connected")
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        logger.debug("client disconnected")
        connectionClosed(connectionID)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
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
            case .blocking(let handler):
                runBlocking(handler, header: header, body: frame.body, callContext: callContext, context: context)
            case .deferred(let handler):
                let channel = context.channel
                handler(header, frame.body, callContext, context.eventLoop).whenSuccess { reply in
                    channel.writeAndFlush(reply, promise: nil)
                }
            case .asynchronous(let handler):
                let channel = context.channel
                let body = frame.body
                Task {
                    // One task per long call (start, destroy…): replies are matched by serial, so
                    // they may finish in any order; the connection keeps serving meanwhile.
                    let reply = await handler(header, body, callContext)
                    channel.writeAndFlush(reply, promise: nil)
                }
            }
        }
    }

    /// Runs a handler that may block on the thread pool, then writes its reply from the event loop.
    private func runBlocking(
        _ handler: @escaping ProcedureTable.ErasedHandler, header: RPCHeader, body: ByteBuffer, callContext: CallContext, context: ChannelHandlerContext
    ) {
        let channel = context.channel
        let allocator = channel.allocator
        threadPool.runIfActive(eventLoop: context.eventLoop) { () -> ByteBuffer in
            var out = allocator.buffer(capacity: 256)
            handler(header, body, callContext, &out)
            return out
        }.whenComplete { result in
            switch result {
            case .success(let buffer): channel.writeAndFlush(buffer, promise: nil)
            case .failure: channel.close(promise: nil)
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
        context.channel.setOption(ChannelOptions.autoRead, value: context.channel.isWritable).whenFailure { _ in }
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
