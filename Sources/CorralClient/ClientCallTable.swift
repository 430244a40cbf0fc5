import CorralProtocol

/// The client's bookkeeping for one connection, as a pure state machine: serials, calls waiting
/// for replies, and what each incoming packet means.
///
/// Generic over the pending-call token so it is tested without promises or channels.
struct ClientCallTable<Pending> {
    /// What the handler must do with an incoming packet.
    enum PacketAction {
        /// Complete this call with the packet.
        case complete(Pending)
        /// Deliver the packet as an event.
        case deliverEvent
        /// Hand the packet to the stream it belongs to (or drop it when there is none).
        case deliverStream
        /// Answer a keepalive PING.
        case sendPong
        /// Nothing to do (a PONG: the peer is alive).
        case ignore
        /// The peer broke the protocol; fail everything and close.
        case protocolViolation(String)
    }

    private(set) var nextSerial: UInt32 = 0
    private(set) var pending: [UInt32: Pending] = [:]
    private(set) var isClosed = false

    /// Registers a call; returns its serial, or `nil` if the connection has closed.
    mutating func callStarted(_ call: Pending) -> UInt32? {
        guard !isClosed else { return nil }
        let serial = nextSerial
        nextSerial &+= 1
        pending[serial] = call
        return serial
    }

    /// A packet arrived from the server.
    mutating func packetReceived(_ header: RPCHeader) -> PacketAction {
        if header.program == RPCProgram.keepalive.rawValue {
            return header.procedure == KeepaliveProcedure.ping.rawValue ? .sendPong : .ignore
        }
        switch header.type {
        case .reply, .replyWithFileDescriptors:
            guard let call = pending.removeValue(forKey: header.serial) else {
                return .protocolViolation("no call waiting for reply with serial \(header.serial)")
            }
            return .complete(call)
        case .message:
            return .deliverEvent
        case .stream, .streamHole:
            return .deliverStream
        case .call, .callWithFileDescriptors:
            return .protocolViolation("the server sent a call (procedure \(header.procedure))")
        }
    }

    /// A call was given up (cancelled or timed out); forget it.
    mutating func callAbandoned(serial: UInt32) -> Pending? {
        pending.removeValue(forKey: serial)
    }

    /// The connection closed: every waiting call must fail.
    mutating func connectionClosed() -> [Pending] {
        isClosed = true
        defer { pending.removeAll() }
        return Array(pending.values)
    }
}
