public import CorralProtocol
import NIOCore
import XDR

/// The daemon's handlers, one per procedure, keyed by program and number.
///
/// A handler is registered with its ``RPCProcedure`` type, so decoding the arguments and encoding
/// the reply come from the generated types; a handler only maps arguments to a reply or a
/// ``RemoteError``. Handlers run on the connection's event loop, so they must not block: anything
/// slow (starting QEMU, talking QMP) belongs in an asynchronous handler.
public struct ProcedureTable: Sendable {
    /// Decodes arguments from a call body, runs the handler, and writes the whole reply packet.
    typealias ErasedHandler = @Sendable (_ header: RPCHeader, _ body: ByteBuffer, _ context: CallContext, _ out: inout ByteBuffer) -> Void

    /// How a handler runs.
    enum Handler {
        /// On the connection's event loop: cheap, never blocks.
        case immediate(ErasedHandler)
        /// In a task: it awaits (QEMU, QMP) without holding a thread. With `onEventLoop` the
        /// task prefers the connection's event loop (``EventLoopTaskExecutor``): for short
        /// handlers that hand anything slow to ``BlockingWork`` and call no actor, it saves the
        /// wake-ups of a pool thread at the start and of the loop for the reply.
        case asynchronous(AsyncErasedHandler, onEventLoop: Bool)
        /// Started on the connection's event loop, completed by a future (no task, no hop
        /// through the concurrency pool): for the hottest waiting calls.
        case deferred(FutureErasedHandler)
        /// In a task, like ``asynchronous(_:)``, and on success opens a stream on the connection
        /// after the reply (volume upload and download, console, screenshot).
        case streamOpening(StreamErasedHandler)
    }

    /// Like ``AsyncErasedHandler``, and also returns the endpoint of the stream the call opens
    /// (`nil` when the call failed).
    typealias StreamErasedHandler = @Sendable (_ header: RPCHeader, _ body: ByteBuffer, _ context: CallContext) async -> (ByteBuffer, (any StreamEndpoint)?)

    /// Like ``ErasedHandler``, but completes later; the future holds the reply packet.
    typealias FutureErasedHandler = @Sendable (_ header: RPCHeader, _ body: ByteBuffer, _ context: CallContext, _ eventLoop: any EventLoop) -> EventLoopFuture<ByteBuffer>

    /// Like ``ErasedHandler``, but awaits; returns the reply packet.
    typealias AsyncErasedHandler = @Sendable (_ header: RPCHeader, _ body: ByteBuffer, _ context: CallContext) async -> ByteBuffer

    private var handlers: [UInt64: Handler] = [:]

    /// Creates an empty table.
    public init() {}

    private static func key(_ program: RPCProgram, _ procedure: Int32) -> UInt64 {
        UInt64(program.rawValue) << 32 | UInt64(UInt32(bitPattern: procedure))
    }

    /// Registers the handler of procedure `P`, run on the event loop: it must not block.
    public mutating func register<P: RPCProcedure>(
        _ procedure: P.Type,
        _ handler: @escaping @Sendable (P.Arguments, CallContext) throws(RemoteError) -> P.Reply
    ) {
        handlers[Self.key(P.program, P.procedure)] = .immediate(Self.erase(procedure, handler))
    }

    /// Registers the handler of procedure `P`, run in a task (it may take long: starting QEMU).
    ///
    /// - Parameter onEventLoop: Run the task on the connection's event loop: only for handlers
    ///   whose own work is short and that leave blocking work to ``BlockingWork``.
    public mutating func registerAsync<P: RPCProcedure>(
        _: P.Type,
        onEventLoop: Bool = false,
        _ handler: @escaping @Sendable (P.Arguments, CallContext) async throws(RemoteError) -> P.Reply
    ) {
        handlers[Self.key(P.program, P.procedure)] = .asynchronous({ header, body, context in
            var out = ByteBuffer()
            let arguments: P.Arguments
            do throws(XDRDecodingError) {
                arguments = try P.Arguments(xdrRecord: body)
            } catch {
                out.writeRPCPacket(header: header.reply(status: .error), payload: RemoteError.undecodablePayload(error))
                return out
            }
            do throws(RemoteError) {
                let reply = try await handler(arguments, context)
                out.writeRPCPacket(header: header.reply(status: .ok), payload: reply)
            } catch {
                out.writeRPCPacket(header: header.reply(status: .error), payload: error)
            }
            return out
        }, onEventLoop: onEventLoop)
    }

    /// Registers the handler of a procedure `P` that opens a stream: it returns the reply and
    /// the stream's endpoint; the stream opens on the connection once the reply is written.
    mutating func registerStream<P: RPCProcedure>(
        _: P.Type,
        _ handler: @escaping @Sendable (P.Arguments, CallContext) async throws(RemoteError) -> (P.Reply, any StreamEndpoint)
    ) {
        handlers[Self.key(P.program, P.procedure)] = .streamOpening({ header, body, context in
            var out = ByteBuffer()
            let arguments: P.Arguments
            do throws(XDRDecodingError) {
                arguments = try P.Arguments(xdrRecord: body)
            } catch {
                out.writeRPCPacket(header: header.reply(status: .error), payload: RemoteError.undecodablePayload(error))
                return (out, nil)
            }
            do throws(RemoteError) {
                let (reply, endpoint) = try await handler(arguments, context)
                out.writeRPCPacket(header: header.reply(status: .ok), payload: reply)
                return (out, endpoint)
            } catch {
                out.writeRPCPacket(header: header.reply(status: .error), payload: error)
                return (out, nil)
            }
        })
    }

    /// Registers the handler of procedure `P`, started on the event loop and completed by the
    /// future it returns (which fails with ``RemoteError``). It must not block.
    mutating func registerDeferred<P: RPCProcedure>(
        _: P.Type,
        _ handler: @escaping @Sendable (P.Arguments, CallContext, any EventLoop) -> EventLoopFuture<P.Reply>
    ) {
        handlers[Self.key(P.program, P.procedure)] = .deferred({ header, body, context, eventLoop in
            let arguments: P.Arguments
            do throws(XDRDecodingError) {
                arguments = try P.Arguments(xdrRecord: body)
            } catch {
                var out = ByteBuffer()
                out.writeRPCPacket(header: header.reply(status: .error), payload: RemoteError.undecodablePayload(error))
                return eventLoop.makeSucceededFuture(out)
            }
            return handler(arguments, context, eventLoop).map { reply in
                var out = ByteBuffer()
                out.writeRPCPacket(header: header.reply(status: .ok), payload: reply)
                return out
            }.recover { error in
                var out = ByteBuffer()
                out.writeRPCPacket(header: header.reply(status: .error), payload: (error as? RemoteError) ?? RemoteError.internalError("\(error)"))
                return out
            }
        })
    }

    private static func erase<P: RPCProcedure>(
        _: P.Type,
        _ handler: @escaping @Sendable (P.Arguments, CallContext) throws(RemoteError) -> P.Reply
    ) -> ErasedHandler {
        { header, body, context, out in
            let arguments: P.Arguments
            do throws(XDRDecodingError) {
                arguments = try P.Arguments(xdrRecord: body)
            } catch {
                out.writeRPCPacket(header: header.reply(status: .error), payload: RemoteError.undecodablePayload(error))
                return
            }
            do throws(RemoteError) {
                let reply = try handler(arguments, context)
                out.writeRPCPacket(header: header.reply(status: .ok), payload: reply)
            } catch {
                out.writeRPCPacket(header: header.reply(status: .error), payload: error)
            }
        }
    }

    /// The handler for a call, or `nil` if the procedure has none.
    func handler(for header: RPCHeader) -> Handler? {
        guard let program = RPCProgram(rawValue: header.program) else { return nil }
        return handlers[Self.key(program, header.procedure)]
    }
}

extension RemoteError {
    /// libvirtd's error for arguments that do not decode (`VIR_ERR_RPC`).
    static func undecodablePayload(_ error: XDRDecodingError) -> RemoteError {
        RemoteError(code: .rpc, domain: .rpc, detail: "Unable to decode message payload: \(error)")
    }
}
