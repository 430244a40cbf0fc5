import Logging
import NIOCore
import NIOSSL
import NIOTLS

/// Sits behind the TLS handler until the handshake ends, then checks the client's verified
/// certificate against the revocation list and the allowed subjects. An admitted client gets
/// libvirt's confirmation byte and the RPC handlers (`admit` adds them), and the gate leaves the
/// pipeline; a refused one is closed before any call is read, as libvirtd closes it.
final class TLSClientGate: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let credentials: TLSServerCredentials
    private let admit: (any Channel, _ subject: String?) throws -> Void
    private let logger: Logger
    /// Data read after the handshake but before the RPC handlers were added.
    private var early: [NIOAny] = []
    private var admitted = false

    init(credentials: TLSServerCredentials, logger: Logger, admit: @escaping (any Channel, String?) throws -> Void) {
        self.credentials = credentials
        self.admit = admit
        self.logger = logger
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let tlsEvent = event as? TLSUserEvent, case .handshakeCompleted = tlsEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        let der: [UInt8]
        do {
            guard let certificate = try context.pipeline.syncOperations.nioSSL_peerCertificate() else {
                refuse(context, "the client sent no certificate")
                return
            }
            der = try certificate.toDERBytes()
        } catch {
            refuse(context, "the client's certificate cannot be read: \(error)")
            return
        }
        if let reason = credentials.refusal(peerCertificateDER: der) {
            refuse(context, reason)
            return
        }
        // libvirt's confirmation: one byte 1 once the client's certificate passed the checks
        // (the client reads it before its first call).
        var confirmation = context.channel.allocator.buffer(capacity: 1)
        confirmation.writeInteger(UInt8(1))
        context.writeAndFlush(NIOAny(confirmation), promise: nil)
        do {
            try admit(context.channel, TLSServerCredentials.subject(peerCertificateDER: der))
        } catch {
            refuse(context, "cannot set up the connection: \(error)")
            return
        }
        // The RPC handlers were appended behind the gate: hand them what came early, then leave.
        admitted = true
        let pending = early
        early = []
        for data in pending { context.fireChannelRead(data) }
        if !pending.isEmpty { context.fireChannelReadComplete() }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if admitted {
            context.fireChannelRead(data)
        } else {
            early.append(data)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A failed handshake (no certificate, an unknown CA, an expired certificate).
        logger.notice("TLS client refused", metadata: ["reason": "\(error)"])
        context.close(promise: nil)
    }

    private func refuse(_ context: ChannelHandlerContext, _ reason: String) {
        logger.warning("TLS client refused", metadata: ["reason": "\(reason)"])
        context.close(promise: nil)
    }
}
