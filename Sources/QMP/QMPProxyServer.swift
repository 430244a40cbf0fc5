public import CorralJSON
import POSIXSupport
public import NIOCore
public import NIOPosix
import Synchronization

/// Serves QMP on a Unix socket in front of a ``QMPTransport``: every client that connects gets
/// its own greeting and negotiation (``QMPServerSession``), its commands run on the transport
/// one at a time, and the events given to ``deliver(event:)`` go to every negotiated client.
///
/// `corral qmp-proxy` puts one in front of the daemon's passthrough, so an ordinary QMP client
/// (`qmp-shell`, a QMP library) drives a guest the daemon manages.
public final class QMPProxyServer: Sendable {
    private let channel: any Channel
    private let clients: ClientList
    private let path: String
    private let identity: FileIdentity?

    private init(channel: any Channel, clients: ClientList, path: String, identity: FileIdentity?) {
        self.channel = channel
        self.clients = clients
        self.path = path
        self.identity = identity
    }

    /// Starts listening on `path`, published with mode 0600. A stale socket there is replaced; a
    /// live one, or a file of another kind, is an error.
    ///
    /// - Parameters:
    ///   - transport: where commands run.
    ///   - version: the `query-version` value for the greeting.
    public static func listen(
        unixSocket path: String, transport: any QMPTransport, version: JSONValue,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws(QMPError) -> QMPProxyServer {
        let clients = ClientList()
        let greeting = QMPServerSession.greeting(version: version)
        let temporary = UnixSocket.temporaryPath(for: path)
        do throws(SystemError) {
            try UnixSocket.claim(path)
        } catch {
            throw QMPError(code: .connectionFailed, message: "cannot listen on \(path): \(error)")
        }
        unlink(temporary)
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: eventLoopGroup)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            QMPProxyClientHandler(transport: transport, greeting: greeting, clients: clients))
                    }
                }
                .bind(unixDomainSocketPath: temporary)
                .get()
        } catch {
            throw QMPError(code: .connectionFailed, message: "cannot listen on \(path): \(error)")
        }
        do throws(SystemError) {
            try UnixSocket.publish(temporary, as: path, permissions: 0o600)
        } catch {
            try? await channel.close()
            throw QMPError(code: .connectionFailed, message: error.description)
        }
        return QMPProxyServer(channel: channel, clients: clients, path: path, identity: FileIdentity(path: path))
    }

    /// Sends `event` (a whole QMP event message) to every negotiated client.
    public func deliver(event: JSONValue) {
        for client in clients.all() { client.writeAndFlush(QMPProxyOutbound.event(event), promise: nil) }
    }

    /// The number of clients connected now.
    public var clientCount: Int { clients.all().count }

    /// Stops listening, removes the socket and disconnects every client.
    public func close() async {
        if channel.isActive { UnixSocket.remove(path, ifStill: identity) }
        try? await channel.close()
        for client in clients.all() { try? await client.close() }
    }
}

/// The channels of the connected clients.
final class ClientList: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])
    func add(_ channel: any Channel) { channels.withLock { $0[ObjectIdentifier(channel)] = channel } }
    func remove(_ channel: any Channel) { _ = channels.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) } }
    func all() -> [any Channel] { channels.withLock { Array($0.values) } }
}

/// What the proxy writes into a client's pipeline from outside it.
enum QMPProxyOutbound: Sendable {
    case event(JSONValue)
}

/// One client of the proxy: splits its input into JSON values, drives its ``QMPServerSession``,
/// runs forwarded commands on the transport, and writes replies and events.
final class QMPProxyClientHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = QMPProxyOutbound
    typealias OutboundOut = ByteBuffer

    private let transport: any QMPTransport
    private let greeting: JSONValue
    private let clients: ClientList
    private var session = QMPServerSession()
    private var scanner = JSONBoundaryScanner()
    private var buffer = ByteBuffer()
    private var scanned = 0
    private var context: ChannelHandlerContext?
    private var reading = true

    init(transport: any QMPTransport, greeting: JSONValue, clients: ClientList) {
        self.transport = transport
        self.greeting = greeting
        self.clients = clients
    }

    func channelActive(context: ChannelHandlerContext) {
        self.context = context
        clients.add(context.channel)
        send(greeting, context: context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        clients.remove(context.channel)
        self.context = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        while true {
            let view = buffer.readableBytesView.dropFirst(scanned)
            let end: Int?
            do throws(JSONBoundaryScanner.Failure) {
                end = try scanner.scan(view)
            } catch {
                // QEMU drops a value it cannot parse and reports it; over the limits, there is no
                // resynchronising, so the session ends as QEMU ends it.
                send(QMPServerSession.error("GenericError", "JSON parse error, \(error == .tooDeep ? "nesting too deep" : error == .tooLong ? "message too long" : "unbalanced brackets")", id: nil), context: context)
                context.close(promise: nil)
                return
            }
            guard let end else {
                scanned = buffer.readableBytes
                break
            }
            let length = scanned + end
            scanned = 0
            let slice = buffer.readSlice(length: length)!
            let actions: [QMPServerSession.Action]
            do throws(JSONParseError) {
                let text = slice.readableBytesView.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
                if text.isEmpty { continue }
                actions = session.messageReceived(try JSONValue.parse(text))
            } catch {
                actions = session.garbageReceived(error.message)
            }
            run(actions, context: context)
        }
        buffer.discardReadBytes()
        updateReading(context: context)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .event(let event):
            // A client that has stopped reading (its output is over NIO's high-water mark) is
            // dropped rather than buffered for without end.
            guard context.channel.isWritable else {
                context.close(promise: nil)
                break
            }
            run(session.eventReceived(event), context: context)
        }
        promise?.succeed()
    }

    /// As QEMU does, stop reading a client with `maximumQueued` commands waiting, and read on
    /// once the queue drains.
    static let maximumQueued = 8

    private func updateReading(context: ChannelHandlerContext) {
        let wanted = session.pendingCount < Self.maximumQueued
        if wanted != reading {
            reading = wanted
            context.channel.setOption(ChannelOptions.autoRead, value: wanted).whenComplete { _ in }
            if wanted { context.read() }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func run(_ actions: [QMPServerSession.Action], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .send(let message):
                send(message, context: context)
            case .forward(let command):
                defer { updateReading(context: context) }
                let transport = self.transport
                let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
                Task {
                    let reply: JSONValue?
                    let failure: String
                    do throws(QMPError) {
                        reply = try await transport.executeRaw(command)
                        failure = ""
                    } catch {
                        reply = nil
                        failure = error.message
                    }
                    handler.eventLoop.execute {
                        let handler = handler.value
                        guard let context = handler.context else { return }
                        handler.run(handler.session.replyReceived(reply, failure: failure), context: context)
                        handler.updateReading(context: context)
                    }
                }
            }
        }
    }

    private func send(_ message: JSONValue, context: ChannelHandlerContext) {
        var out = context.channel.allocator.buffer(capacity: 256)
        out.writeString(message.description)
        out.writeString("\r\n")
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }
}
