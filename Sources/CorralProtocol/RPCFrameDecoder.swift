public import NIOCore
import XDR

/// Why the byte stream could not be split into packets. Any of these ends the connection:
/// framing cannot be resynchronised.
public struct RPCFramingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The length word that was refused.
    public var length: UInt32
    /// Why it was refused.
    public var reason: String

    public var description: String { "bad RPC packet length \(length): \(reason)" }
}

/// Splits a byte stream into ``RPCFrame``s (libvirt's `virNetMessageDecodeLength`).
///
/// The 4-byte big-endian length counts itself. A length below the header's size, or above
/// ``RPCLimits/packetMaximum`` (or the configured maximum), is refused *before* any of the packet
/// is buffered, so a client claiming 1 GiB costs nothing.
public struct RPCFrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RPCFrame

    /// The largest packet accepted, length word included.
    public let maximumPacketLength: Int

    /// Creates a decoder.
    public init(maximumPacketLength: Int = RPCLimits.packetMaximum) {
        self.maximumPacketLength = maximumPacketLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RPCFrame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .big, as: UInt32.self) else { return nil }
        let minimum = RPCLimits.lengthWordSize + RPCLimits.headerSize
        guard length >= minimum else {
            throw RPCFramingError(length: length, reason: "shorter than the \(minimum)-byte minimum")
        }
        guard Int(length) <= maximumPacketLength else {
            throw RPCFramingError(length: length, reason: "longer than the \(maximumPacketLength)-byte maximum")
        }
        guard var packet = buffer.readSlice(length: Int(length)) else { return nil }
        packet.moveReaderIndex(forwardBy: RPCLimits.lengthWordSize)
        let header: RPCHeader
        do {
            header = try RPCHeader(xdr: &packet)
        } catch {
            throw RPCFramingError(length: length, reason: "malformed header: \(error)")
        }
        return RPCFrame(header: header, body: packet)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RPCFrame? {
        try decode(buffer: &buffer)
    }
}
