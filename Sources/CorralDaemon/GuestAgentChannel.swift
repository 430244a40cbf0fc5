import CorralJSON
import CorralProtocol
import NIOCore
import NIOPosix
import QMP

/// Talks to the QEMU guest agent over the guest's `org.qemu.guest_agent.0` channel socket with
/// SwiftNIO: no thread waits for an agent, however long it stays silent (a blocking call holds
/// only its socket), and every phase has a scheduled deadline. The protocol is
/// ``GuestAgentExchange``.
enum GuestAgentChannel {
    /// libvirt's default wait for the agent (`VIR_DOMAIN_QEMU_AGENT_COMMAND_DEFAULT`), seconds.
    static let defaultTimeout: Int64 = 5
    /// The name of the channel the agent listens on.
    static let channelName = "org.qemu.guest_agent.0"
    /// The longest reply line accepted from the agent.
    static let maximumLineLength = 16 << 20

    /// Runs `command`; returns the agent's whole reply as compact JSON, or an empty string for
    /// `timeout` 0 (`NOWAIT`: sent, not waited for; libvirt's clients treat a null result as a
    /// failure, so "nothing awaited" is an empty result). `timeout` -2 waits for ever, -1 is
    /// the default, and a positive number is seconds. The handshake is always bounded.
    static func execute(socket path: String, command: JSONValue, timeout: Int32, group: any EventLoopGroup) async throws(RemoteError) -> String {
        let eventLoop = group.next()
        let exchange = GuestAgentExchange(command: command, syncID: Int64.random(in: 1...Int64(Int32.max)), awaitsReply: timeout != 0)
        let replyTimeout: TimeAmount? = timeout == -2 ? nil : .seconds(timeout > 0 ? Int64(timeout) : defaultTimeout)
        let promise = eventLoop.makePromise(of: String.self)
        let handler = AgentHandler(exchange: exchange, syncTimeout: .seconds(defaultTimeout), replyTimeout: replyTimeout, promise: promise)
        let connected = ClientBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maximumLength: maximumLineLength)))
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(unixDomainSocketPath: path)
        connected.whenFailure { _ in promise.fail(GuestAgentExchange.notResponding("QEMU guest agent is not connected")) }
        do {
            return try await promise.futureResult.get()
        } catch let error as RemoteError {
            throw error
        } catch {
            throw GuestAgentExchange.notResponding("QEMU guest agent is not connected")
        }
    }
}

/// Runs one ``GuestAgentExchange`` on a channel, then closes it.
private final class AgentHandler: ChannelInboundHandler, @unchecked Sendable {  // used on its channel's event loop only
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var exchange: GuestAgentExchange
    private let syncTimeout: TimeAmount
    private let replyTimeout: TimeAmount?
    private let promise: EventLoopPromise<String>
    private var deadline: Scheduled<Void>?
    private var lastWrite: EventLoopFuture<Void>?

    init(exchange: GuestAgentExchange, syncTimeout: TimeAmount, replyTimeout: TimeAmount?, promise: EventLoopPromise<String>) {
        self.exchange = exchange
        self.syncTimeout = syncTimeout
        self.replyTimeout = replyTimeout
        self.promise = promise
    }

    func channelActive(context: ChannelHandlerContext) {
        schedule(syncTimeout, context: context)
        perform(exchange.start(), context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let line = unwrapInboundIn(data)
        perform(exchange.lineReceived(line.readableBytesView), context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(exchange.channelFailed(), context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        perform(exchange.channelFailed(), context: context)
    }

    private func schedule(_ timeout: TimeAmount?, context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        guard let timeout else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.perform(handler.exchange.timedOut(), context: context)
        }
    }

    private func perform(_ actions: [GuestAgentExchange.Action], context: ChannelHandlerContext) {
        for action in actions {
            switch action {
            case .send(let line):
                var buffer = context.channel.allocator.buffer(capacity: line.utf8.count + 1)
                buffer.writeString(line)
                buffer.writeInteger(UInt8(ascii: "\n"))
                lastWrite = context.writeAndFlush(wrapOutboundOut(buffer))
            case .commandSent:
                schedule(replyTimeout, context: context)
            case .finish(let result):
                deadline?.cancel()
                deadline = nil
                switch result {
                case .success(let text): promise.succeed(text)
                case .failure(let error): promise.fail(error)
                }
                // Close once the last line is out (NOWAIT finishes right after sending).
                let channel = context.channel
                if let lastWrite { lastWrite.whenComplete { _ in channel.close(promise: nil) } } else { channel.close(promise: nil) }
            }
        }
    }
}
