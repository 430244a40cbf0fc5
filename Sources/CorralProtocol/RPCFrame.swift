public import NIOCore
public import XDR

/// One packet: its header and its payload (a slice of the received bytes, not a copy).
///
/// For ``RPCMessageType/callWithFileDescriptors`` and ``RPCMessageType/replyWithFileDescriptors``
/// the payload starts with the 4-byte descriptor count.
public struct RPCFrame: Sendable, Hashable {
    /// The header.
    public var header: RPCHeader
    /// The XDR payload after the header.
    public var body: ByteBuffer

    /// Creates a frame.
    public init(header: RPCHeader, body: ByteBuffer) {
        self.header = header
        self.body = body
    }
}

extension ByteBuffer {
    /// Writes one whole packet: the length word, `header`, and whatever `writePayload` appends.
    ///
    /// The length word is patched after the payload is written, so the payload is encoded once,
    /// straight into the outgoing buffer.
    ///
    /// - Returns: The packet's total length.
    @discardableResult
    public mutating func writeRPCPacket(header: RPCHeader, _ writePayload: (inout ByteBuffer) -> Void = { _ in }) -> Int {
        let start = writerIndex
        writeXDRUInt32(0)
        header.encode(into: &self)
        writePayload(&self)
        let length = writerIndex - start
        setInteger(UInt32(length), at: start, endianness: .big)
        return length
    }

    /// Writes one whole packet whose payload is an XDR value.
    @discardableResult
    public mutating func writeRPCPacket(header: RPCHeader, payload: some XDREncodable) -> Int {
        writeRPCPacket(header: header) { payload.encode(into: &$0) }
    }
}
