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

extension ByteBuffer {
    /// Bytes a packet's length word and header take: what a buffer of stream data keeps free
    /// before its readable bytes so the packet is made in place, without copying the data.
    public static let rpcPacketHeadroom = RPCLimits.lengthWordSize + RPCLimits.headerSize

    /// A buffer for up to `capacity` bytes of stream data, with ``rpcPacketHeadroom`` bytes
    /// reserved before them.
    public static func streamDataBuffer(capacity: Int, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: capacity + rpcPacketHeadroom)
        buffer.moveWriterIndex(forwardBy: rpcPacketHeadroom)
        buffer.moveReaderIndex(forwardBy: rpcPacketHeadroom)
        return buffer
    }

    /// Turns stream data made with ``streamDataBuffer(capacity:allocator:)`` into a whole packet
    /// with `header`, in place (no copy when the buffer is the only reference to its bytes);
    /// returns `false`, changing nothing, when the buffer has no headroom.
    public mutating func makePacketInPlace(header: RPCHeader) -> Bool {
        guard readerIndex >= Self.rpcPacketHeadroom else { return false }
        let start = readerIndex - Self.rpcPacketHeadroom
        moveReaderIndex(to: start)
        var offset = start
        for word in [UInt32(readableBytes), header.program, header.version, UInt32(bitPattern: header.procedure),
                     UInt32(bitPattern: header.type.rawValue), header.serial, UInt32(bitPattern: header.status.rawValue)] {
            setInteger(word, at: offset, endianness: .big)
            offset += 4
        }
        return true
    }

    /// `data` as a whole packet with `header`: in place when it has the headroom, else copied.
    public static func streamPacket(_ data: consuming ByteBuffer, header: RPCHeader, allocator: ByteBufferAllocator) -> ByteBuffer {
        var packet = data
        if packet.makePacketInPlace(header: header) { return packet }
        var copy = allocator.buffer(capacity: rpcPacketHeadroom + packet.readableBytes)
        copy.writeRPCPacket(header: header) { $0.writeImmutableBuffer(packet) }
        return copy
    }
}
