public import NIOCore
public import XDR

/// The 24-byte packet header (`virNetMessageHeader`): six XDR words after the length word.
public struct RPCHeader: Sendable, Hashable, XDRCodable {
    /// The program number (``RPCProgram`` raw value); kept raw so unknown programs can be answered.
    public var program: UInt32
    /// The program version.
    public var version: UInt32
    /// The procedure number within the program.
    public var procedure: Int32
    /// The packet type.
    public var type: RPCMessageType
    /// The serial: chosen by the client for calls, echoed by replies.
    public var serial: UInt32
    /// The status.
    public var status: RPCMessageStatus

    /// Creates a header.
    public init(
        program: UInt32,
        version: UInt32 = RPCProgram.version,
        procedure: Int32,
        type: RPCMessageType,
        serial: UInt32,
        status: RPCMessageStatus = .ok
    ) {
        self.program = program
        self.version = version
        self.procedure = procedure
        self.type = type
        self.serial = serial
        self.status = status
    }

    /// Creates a header for a known program.
    public init(program: RPCProgram, procedure: Int32, type: RPCMessageType, serial: UInt32, status: RPCMessageStatus = .ok) {
        self.init(program: program.rawValue, procedure: procedure, type: type, serial: serial, status: status)
    }

    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) {
        program = try buffer.readXDRUInt32()
        version = try buffer.readXDRUInt32()
        procedure = try buffer.readXDRInt32()
        type = try buffer.readXDREnum()
        serial = try buffer.readXDRUInt32()
        status = try buffer.readXDREnum()
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeXDRUInt32(program)
        buffer.writeXDRUInt32(version)
        buffer.writeXDRInt32(procedure)
        buffer.writeXDREnum(type)
        buffer.writeXDRUInt32(serial)
        buffer.writeXDREnum(status)
    }

    /// The reply header for this call: same program, version, procedure and serial.
    public func reply(status: RPCMessageStatus) -> RPCHeader {
        RPCHeader(program: program, version: version, procedure: procedure, type: .reply, serial: serial, status: status)
    }
}
