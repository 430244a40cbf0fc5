public import CorralProtocol
import Foundation
public import NIOCore
import NIOPosix
public import XDR

/// A connection to `corrald` or `libvirtd` over libvirt's RPC protocol.
///
/// Many calls may be in flight at once; replies are matched by serial. Events the daemon sends
/// arrive on ``events``. Close the connection with ``close()`` (or use
/// ``withConnection(to:readOnly:keepalive:_:)``, which does).
public final class CorralConnection: Sendable {
    /// The URI this connection was opened with.
    public let uri: ConnectionURI
    /// Whether the connection is read-only.
    public let isReadOnly: Bool
    /// Whether the server implements the callback event procedures (feature 14).
    public let supportsEventCallbacks: Bool
    /// Whether the server answers keepalive PINGs (feature 10).
    public let supportsKeepalive: Bool
    /// Asynchronous messages (events) from the server, in arrival order.
    public let events: AsyncStream<RPCFrame>

    private let channel: any Channel
    private let eventContinuation: AsyncStream<RPCFrame>.Continuation

    private init(
        uri: ConnectionURI, isReadOnly: Bool, channel: any Channel, events: AsyncStream<RPCFrame>,
        continuation: AsyncStream<RPCFrame>.Continuation, keepalive: Bool, eventCallbacks: Bool
    ) {
        self.uri = uri
        self.isReadOnly = isReadOnly
        self.channel = channel
        self.events = events
        self.eventContinuation = continuation
        self.supportsKeepalive = keepalive
        self.supportsEventCallbacks = eventCallbacks
    }

    /// The event loop group client connections use unless told otherwise.
    public static var defaultEventLoopGroup: any EventLoopGroup { MultiThreadedEventLoopGroup.singleton }

    /// Connects and opens the connection the way libvirt's remote driver does: `AUTH_LIST`,
    /// the keepalive feature query, `CONNECT_OPEN`, then the event and close-callback queries.
    ///
    /// - Parameters:
    ///   - uri: Where to connect (see ``ConnectionURI``).
    ///   - readOnly: Open read-only (on the read-only socket, with the read-only flag).
    ///   - keepalive: Client-side keepalive, or `nil` for none. PINGs from the server are always answered.
    /// - Throws: ``CorralClientError``.
    public static func connect(
        to uri: ConnectionURI,
        readOnly: Bool = false,
        keepalive: KeepaliveConfiguration? = nil,
        eventLoopGroup: any EventLoopGroup = CorralConnection.defaultEventLoopGroup
    ) async throws(CorralClientError) -> CorralConnection {
        let (events, continuation) = AsyncStream<RPCFrame>.makeStream(bufferingPolicy: .bufferingNewest(65_536))
        let channel = try await ClientTransports.open(uri, readOnly: readOnly, group: eventLoopGroup) { channel in
            try channel.pipeline.syncOperations.addHandler(RPCFrameAssembler())
            try channel.pipeline.syncOperations.addHandler(
                RPCClientHandler(keepalive: nil, eventSink: { continuation.yield($0) }, closedSink: { _ in continuation.finish() })
            )
        }
        let raw = RawChannel(channel: channel)
        do throws(CorralClientError) {
            do throws(CorralClientError) {
                let auth = try await raw.call(Remote.AuthList.self, XDRVoid())
                if !auth.types.isEmpty && !auth.types.contains(0) {
                    let method = auth.types.contains(1) ? "SASL" : auth.types.contains(2) ? "polkit" : "\(auth.types)"
                    throw CorralClientError(
                        code: .connectionFailed,
                        message: "the daemon requires \(method) authentication, which Corral's client does not support (use a Unix socket, ssh, or TLS with auth_tls = \"none\")")
                }
            } catch where error.isNotSupported {
                // An old server without AUTH_LIST: no authentication.
            }
            let keepaliveSupported = try await raw.supportsFeature(.programKeepalive)
            let flags: ConnectOpenFlags = readOnly ? .readOnly : []
            _ = try await raw.call(Remote.ConnectOpen.self, .init(name: uri.openName, flags: flags.rawValue))
            let eventCallbacks = try await raw.supportsFeature(.remoteEventCallback)
            if keepaliveSupported, let keepalive {
                try? await channel.eventLoop.submit {
                    let context = try channel.pipeline.syncOperations.context(handlerType: RPCClientHandler.self)
                    (context.handler as! RPCClientHandler).enableKeepalive(keepalive, context: context)
                }.get()
            }
            return CorralConnection(
                uri: uri, isReadOnly: readOnly, channel: channel, events: events, continuation: continuation,
                keepalive: keepaliveSupported, eventCallbacks: eventCallbacks
            )
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Connects to the URI string `uri`; see ``connect(to:readOnly:keepalive:eventLoopGroup:)``.
    public static func connect(
        to uri: String,
        readOnly: Bool = false,
        keepalive: KeepaliveConfiguration? = nil
    ) async throws(CorralClientError) -> CorralConnection {
        try await connect(to: try ConnectionURI(uri), readOnly: readOnly, keepalive: keepalive)
    }

    /// Connects, runs `body`, and closes the connection however `body` ends.
    ///
    /// `body`'s non-isolated code runs on the connection's event-loop thread (a task executor
    /// preference, ``EventLoopTaskExecutor``), so a call is written and its reply handled on
    /// one thread, without waking another per call. Keep blocking work out of `body` (or move
    /// it to a task of its own): while it runs, the connection's loop reads nothing.
    public static func withConnection<Result>(
        to uri: String,
        readOnly: Bool = false,
        keepalive: KeepaliveConfiguration? = nil,
        _ body: (CorralConnection) async throws -> Result
    ) async throws -> Result {
        let parsed = try ConnectionURI(uri)
        let eventLoop = defaultEventLoopGroup.next()
        return try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop)) {
            let connection = try await connect(to: parsed, readOnly: readOnly, keepalive: keepalive, eventLoopGroup: eventLoop)
            do {
                let result = try await body(connection)
                await connection.close()
                return result
            } catch {
                await connection.close()
                throw error
            }
        }
    }

    /// Calls procedure `P` and waits for its reply.
    ///
    /// - Throws: ``CorralClientError``: ``CorralClientError/Code/remote`` for an error the daemon
    ///   sent (with libvirt's code, domain and message), or a connection error.
    public func call<P: RPCProcedure>(_ procedure: P.Type, _ arguments: P.Arguments) async throws(CorralClientError) -> P.Reply {
        try await RawChannel(channel: channel).call(procedure, arguments)
    }

    /// Calls a procedure that takes no arguments.
    public func call<P: RPCProcedure>(_ procedure: P.Type) async throws(CorralClientError) -> P.Reply where P.Arguments == XDRVoid {
        try await call(procedure, XDRVoid())
    }

    /// Sends `CONNECT_CLOSE` and closes the socket. Safe to call more than once.
    public func close() async {
        if channel.isActive {
            _ = try? await call(Remote.ConnectClose.self)
        }
        try? await channel.close()
        eventContinuation.finish()
    }

    /// Whether the connection is still open.
    public var isAlive: Bool { channel.isActive }

    var rawChannel: RawChannel { RawChannel(channel: channel) }

    static func describe(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }
}

/// Issues calls on a channel whose pipeline ends in ``RPCClientHandler``.
struct RawChannel: Sendable {
    let channel: any Channel

    func call<P: RPCProcedure>(_: P.Type, _ arguments: P.Arguments, stream: ClientStreamInbox? = nil) async throws(CorralClientError) -> P.Reply {
        let promise = channel.eventLoop.makePromise(of: RPCFrame.self)
        // On a closed channel the write never reaches the handler; fail the call here instead of
        // leaving it waiting. (When the handler is reached, it completes the call itself.)
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { _ in
            promise.fail(CorralClientError(code: .connectionClosed, message: "the connection to the daemon is closed"))
        }
        channel.writeAndFlush(
            ClientOutbound.call(OutboundCall(program: P.program, procedure: P.procedure, writeArguments: { arguments.encode(into: &$0) }, promise: promise, stream: stream)),
            promise: written
        )
        let frame: RPCFrame
        do {
            frame = try await promise.futureResult.get()
        } catch let error as CorralClientError {
            throw error
        } catch {
            throw CorralClientError(code: .connectionClosed, message: "the connection to the daemon failed: \(error)")
        }
        switch frame.header.status {
        case .ok:
            do throws(XDRDecodingError) {
                return try P.Reply(xdrRecord: frame.body)
            } catch {
                throw CorralClientError(code: .protocolViolation, message: "cannot decode the reply to procedure \(P.procedure): \(error)")
            }
        case .error:
            let remote: RemoteError
            do throws(XDRDecodingError) {
                remote = try RemoteError(xdrRecord: frame.body)
            } catch {
                throw CorralClientError(code: .protocolViolation, message: "cannot decode the error for procedure \(P.procedure): \(error)")
            }
            throw CorralClientError(remote: remote)
        case .continue:
            throw CorralClientError(code: .protocolViolation, message: "unexpected stream status in the reply to procedure \(P.procedure)")
        }
    }

    func supportsFeature(_ feature: ConnectionFeature) async throws(CorralClientError) -> Bool {
        do throws(CorralClientError) {
            return try await call(Remote.ConnectSupportsFeature.self, .init(feature: feature.rawValue)).supported != 0
        } catch where error.isNotSupported {
            return false
        }
    }
}

extension OutboundCall: @unchecked Sendable {}
extension ClientOutbound: @unchecked Sendable {}  // every field is Sendable; the promise is thread-safe
