import CorralProtocol
import Logging
import NIOCore
import NIOPosix
import NIOSSL
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

    /// Keepalive towards the client, started when it asks whether the server supports it.
    private var keepalive: ConnectionKeepalive
    /// How the client reached the daemon, and what it proved since.
    private var transport: ConnectionTransport
    /// The connection's SASL exchange, from `AUTH_SASL_INIT` until it ends.
    private var sasl: SASLServerSession?
    /// Whether a SASL step is running on a worker thread (a second one is refused meanwhile).
    private var saslStepRunning = false
    /// The executor of on-loop asynchronous handlers (made on the first such call).
    private var eventLoopExecutor: EventLoopTaskExecutor?

    init(
        procedures: ProcedureTable, transport: ConnectionTransport, connectionID: UInt64, limits: ConnectionLimits,
        keepalive: KeepaliveSettings, logger: Logger, callsInFlight: InFlightCalls, connectionClosed: @escaping @Sendable (UInt64) -> Void
    ) {
        self.daemonCallsInFlight = callsInFlight
        self.limits = limits
        self.connectionClosed = connectionClosed
        self.transport = transport
        self.keepalive = ConnectionKeepalive(settings: keepalive)
        self.stateMachine = ServerConnectionStateMachine(socketIsReadOnly: transport.socketIsReadOnly, authentication: transport.authentication)
        self.procedures = procedures
        self.connectionID = connectionID
        self.logger = logger
        self.logger[metadataKey: "connection"] = "\(connectionID)"
    }

    func channelActive(context: ChannelHandlerContext) {
        setUp(context: context)
        context.fireChannelActive()
    }

    /// A TLS connection gets this handler only after its handshake, when the channel is long
    /// active: set up now, as channelActive will not come.
    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { setUp(context: context) }
    }

    private func setUp(context: ChannelHandlerContext) {
        guard streams == nil else { return }
        logger.debug("client connected")
        let channel = context.channel
        streams = ConnectionStreams(channel: channel)
        let logger = self.logger
        openTimer = context.eventLoop.scheduleTask(in: limits.openTimeout) {
            logger.info("closing a connection that did not open within the time allowed")
            channel.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        logger.debug("client disconnected")
        openTimer?.cancel()
        keepalive.stop()
        sasl = nil
        waitingCalls.removeAll()
        streams?.connectionClosed()
        connectionClosed(connectionID)
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        keepalive.messageReceived()
        daemonCallsInFlight.callReceived()
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
    /// `written` runs once the answer has reached the socket (or the channel has failed), so a
    /// graceful stop that waits for calls in flight does not end the process before it is sent.
    private func callFinished(context: ChannelHandlerContext, written: @escaping @Sendable () -> Void) {
        callsInFlight -= 1
        while callsInFlight < limits.maximumRequestsPerClient, let frame = waitingCalls.popFirst() {
            process(frame, context: context)
        }
        flushPending(context: context, written: written)
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
        let answered: @Sendable () -> Void = { daemonCalls.end() }
        return {
            if eventLoop.inEventLoop {
                let (handler, context) = bound.value
                handler.callFinished(context: context, written: answered)
            } else {
                eventLoop.execute {
                    let (handler, context) = bound.value
                    handler.callFinished(context: context, written: answered)
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
        case .dispatchAuthentication(let procedure):
            authenticate(procedure, frame: frame, context: context, out: &out)
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
        case .dispatchRemote(let procedure):
            if procedure == .connectSupportsFeature { startKeepaliveIfAsked(frame, context: context) }
            dispatch(frame, context: context, out: &out)
        case .dispatchQEMU:
            dispatch(frame, context: context, out: &out)
        }
    }

    /// libvirt's answer to any failed authentication step (the detail goes to the log only).
    private static let authenticationFailed = RemoteError(code: .authFailed, domain: .rpc, detail: "authentication failed")

    /// The minimum SASL security strength on plain TCP (libvirt's `tcp_min_ssf`, DES level).
    static let minimumTCPSecurityStrength: UInt32 = 56

    /// Runs `AUTH_SASL_INIT`, `AUTH_SASL_START`, `AUTH_SASL_STEP` and `AUTH_POLKIT`.
    private func authenticate(_ procedure: RemoteProcedure, frame: RPCFrame, context: ChannelHandlerContext, out: inout ByteBuffer) {
        let header = frame.header
        func refuse(_ reason: String, _ out: inout ByteBuffer) {
            logger.warning("authentication refused", metadata: ["reason": "\(reason)"])
            sasl = nil
            out.writeRPCPacket(header: header.reply(status: .error), payload: Self.authenticationFailed)
        }
        guard procedure != .authPolkit else { return refuse("polkit is not supported", &out) }
        guard transport.authentication == .sasl else { return refuse("SASL is not enabled on this listener", &out) }
        guard !stateMachine.isAuthenticated else { return refuse("the client is already authenticated", &out) }
        guard !saslStepRunning else { return refuse("a SASL step is already running", &out) }
        if procedure == .authSaslInit {
            do throws(SASLServerSession.Failure) {
                let session = try SASLServerSession(
                    local: Self.saslAddress(context.channel.localAddress), remote: Self.saslAddress(context.channel.remoteAddress),
                    externalSSF: transport.kind == .tls ? 256 : 0, minimumSSF: Self.minimumTCPSecurityStrength)
                let mechanisms = try session.mechanisms()
                sasl = session
                out.writeRPCPacket(header: header.reply(status: .ok), payload: Remote.AuthSaslInit.Reply(mechlist: mechanisms))
            } catch {
                refuse(error.description, &out)
            }
            return
        }
        guard let session = sasl else { return refuse("a SASL step before AUTH_SASL_INIT", &out) }
        let step: @Sendable () throws(SASLServerSession.Failure) -> SASLServerSession.StepResult
        do throws(XDRDecodingError) {
            if procedure == .authSaslStart {
                let arguments = try Remote.AuthSaslStart.Arguments(xdrRecord: frame.body)
                let data = arguments.isNil != 0 ? nil : arguments.data
                step = { () throws(SASLServerSession.Failure) in try session.start(mechanism: arguments.mech, clientData: data) }
            } else {
                let arguments = try Remote.AuthSaslStep.Arguments(xdrRecord: frame.body)
                let data = arguments.isNil != 0 ? nil : arguments.data
                step = { () throws(SASLServerSession.Failure) in try session.step(clientData: data) }
            }
        } catch {
            out.writeRPCPacket(header: header.reply(status: .error), payload: RemoteError.undecodablePayload(error))
            return
        }
        // Mechanisms may read the user database and hash passwords: off the event loop.
        saslStepRunning = true
        callsInFlight += 1
        let finished = onLoop(context)
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        Task {
            let result: Result<SASLServerSession.StepResult, SASLServerSession.Failure>
            do {
                result = .success(try await NIOThreadPool.singleton.runIfActive { try step() })
            } catch let failure as SASLServerSession.Failure {
                result = .failure(failure)
            } catch {
                result = .failure(SASLServerSession.Failure(description: "\(error)"))
            }
            eventLoop.execute {
                let (handler, context) = bound.value
                handler.saslStepRunning = false
                handler.saslStepFinished(result, session: session, header: header, context: context)
                finished()
            }
        }
    }

    private func saslStepFinished(
        _ result: Result<SASLServerSession.StepResult, SASLServerSession.Failure>, session: SASLServerSession, header: RPCHeader,
        context: ChannelHandlerContext
    ) {
        var out = context.channel.allocator.buffer(capacity: 256)
        func reply(complete: Bool, data: [UInt8]?) -> Bool {
            guard (data?.count ?? 0) <= 65536 else { return false }
            let payload = Remote.AuthSaslStep.Reply(complete: complete ? 1 : 0, isNil: data == nil ? 1 : 0, data: data ?? [])
            out.writeRPCPacket(header: header.reply(status: .ok), payload: payload)
            return true
        }
        var layer: SASLSecurityLayer?
        switch result {
        case .failure(let failure):
            logger.warning("SASL authentication failed", metadata: ["reason": "\(failure.description)"])
            sasl = nil
            out.writeRPCPacket(header: header.reply(status: .error), payload: Self.authenticationFailed)
        case .success(.continueWith(let data)):
            if !reply(complete: false, data: data) {
                sasl = nil
                out.writeRPCPacket(header: header.reply(status: .error), payload: Self.authenticationFailed)
            }
        case .success(.complete(let data)):
            let strength = session.securityStrength()
            if transport.kind == .tcp && strength < Self.minimumTCPSecurityStrength {
                logger.warning("SASL authentication refused", metadata: ["reason": "negotiation SSF \(strength) was not strong enough"])
                sasl = nil
                out.writeRPCPacket(header: header.reply(status: .error), payload: Self.authenticationFailed)
            } else if !reply(complete: true, data: data) {
                sasl = nil
                out.writeRPCPacket(header: header.reply(status: .error), payload: Self.authenticationFailed)
            } else {
                stateMachine.authenticationSucceeded()
                transport.saslUsername = session.username()
                logger.info("SASL client authenticated", metadata: ["user": "\(transport.saslUsername ?? "")", "ssf": "\(strength)"])
                if transport.kind == .tcp {
                    transport.hasSASLSecurityLayer = true
                    layer = SASLSecurityLayer(session: session, logger: logger)
                }
                sasl = nil
            }
        }
        // The final reply goes in the clear; the layer wraps everything after it.
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        if let layer {
            do {
                try context.pipeline.syncOperations.addHandler(layer, position: .first)
            } catch {
                context.close(promise: nil)
            }
        }
    }

    /// `address;port`, the form Cyrus SASL takes for the connection's ends.
    private static func saslAddress(_ address: SocketAddress?) -> String? {
        guard let address, let ip = address.ipAddress, let port = address.port else { return nil }
        return "\(ip);\(port)"
    }

    /// A client that asks whether the server speaks keepalive gets PINGs from it, as libvirtd's do.
    private func startKeepaliveIfAsked(_ frame: RPCFrame, context: ChannelHandlerContext) {
        var body = frame.body
        guard let feature = try? body.readXDRInt32(), feature == ConnectionFeature.programKeepalive.rawValue else { return }
        let channel = context.channel
        let logger = self.logger
        keepalive.start(on: context.eventLoop) { action in
            switch action {
            case .sendPing:
                var ping = channel.allocator.buffer(capacity: 28)
                ping.writeRPCPacket(header: RPCHeader(program: .keepalive, procedure: KeepaliveProcedure.ping.rawValue, type: .message, serial: 0))
                channel.writeAndFlush(ping, promise: nil)
            case .close:
                logger.notice("closing a connection whose client stopped answering keepalive PINGs")
                channel.close(promise: nil)
            }
        }
    }

    private func loopExecutor(_ eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        if let eventLoopExecutor { return eventLoopExecutor }
        let executor = EventLoopTaskExecutor(eventLoop)
        eventLoopExecutor = executor
        return executor
    }

    private func dispatch(_ frame: RPCFrame, context: ChannelHandlerContext, out: inout ByteBuffer) {
        let header = frame.header
        let callContext = CallContext(
            connectionID: connectionID, isReadOnly: stateMachine.isReadOnly, openURI: stateMachine.openURI, transport: transport,
            channel: context.channel)
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
        case .asynchronous(let handler, let onEventLoop):
            callsInFlight += 1
            let channel = context.channel
            let body = frame.body
            let finished = onLoop(context)
            // One task per long call (start, destroy…): replies are matched by serial, so they
            // may finish in any order; the connection keeps serving meanwhile.
            Task(executorPreference: onEventLoop ? loopExecutor(context.eventLoop) : nil) {
                let reply = await handler(header, body, callContext)
                channel.writeAndFlush(reply, promise: nil)
                finished()
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushPending(context: context)
        context.fireChannelReadComplete()
    }

    private func flushPending(context: ChannelHandlerContext, written: (@Sendable () -> Void)? = nil) {
        guard let buffer = pending, buffer.readableBytes > 0 else {
            written?()
            return
        }
        pending = nil
        if closeAfterFlush {
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in
                written?()
                channel.close(promise: nil)
            }
        } else if let written {
            context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in written() }
        } else {
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        // Stop reading from a client that does not read its replies; resume when it catches up.
        updateReading(context: context)
        context.fireChannelWritabilityChanged()
    }

    /// A reset connection, or a TLS client that closed without close_notify (virsh does).
    private static func isPeerGone(_ error: any Error) -> Bool {
        if let error = error as? IOError, error.errnoCode == ECONNRESET || error.errnoCode == EPIPE { return true }
        if let error = error as? NIOSSLError, case .uncleanShutdown = error { return true }
        return false
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Framing errors (a bad length, a malformed header) cannot be recovered from: close this
        // connection only. A client that went away without a goodbye is routine, not news.
        if Self.isPeerGone(error) {
            logger.debug("client connection ended abruptly", metadata: ["error": "\(error)"])
        } else {
            logger.notice("closing connection after a protocol error", metadata: ["error": "\(error)"])
        }
        flushPending(context: context)
        context.close(promise: nil)
    }
}
