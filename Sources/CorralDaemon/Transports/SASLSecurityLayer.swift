import Logging
import NIOCore

/// SASL's security layer on a plain TCP connection (libvirt's framing once a mechanism such as
/// DIGEST-MD5 or GSSAPI negotiated one): every byte each way goes through `sasl_encode` and
/// `sasl_decode`, whose packets carry their own length. Added at the front of the pipeline right
/// after the final authentication reply is written, which itself goes in the clear.
final class SASLSecurityLayer: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let session: SASLServerSession
    private let chunk: Int
    private let logger: Logger

    init(session: SASLServerSession, logger: Logger) {
        self.session = session
        self.chunk = session.maximumOutputChunk()
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        do {
            let plain = try buffer.withUnsafeReadableBytes { bytes in try session.decode(bytes) }
            guard !plain.isEmpty else { return }
            context.fireChannelRead(wrapInboundOut(context.channel.allocator.buffer(bytes: plain)))
        } catch {
            logger.notice("closing a connection whose SASL data does not decode", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var buffer = unwrapOutboundIn(data)
        var encoded = context.channel.allocator.buffer(capacity: buffer.readableBytes + 64)
        do {
            while buffer.readableBytes > 0 {
                let length = min(chunk, buffer.readableBytes)
                let piece = try buffer.readSlice(length: length)!.withUnsafeReadableBytes { bytes in
                    try session.encode(bytes)
                }
                encoded.writeBytes(piece)
            }
        } catch {
            logger.error("cannot encode SASL data", metadata: ["error": "\(error)"])
            promise?.fail(error)
            context.close(promise: nil)
            return
        }
        context.write(wrapOutboundOut(encoded), promise: promise)
    }
}
