public import NIOCore

// Standard library types as XDR values, so generated structs can encode fields uniformly.

extension Int32: XDRCodable {
    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) { self = try buffer.readXDRInt32() }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeXDRInt32(self) }
}

extension UInt32: XDRCodable {
    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) { self = try buffer.readXDRUInt32() }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeXDRUInt32(self) }
}

extension Int64: XDRCodable {
    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) { self = try buffer.readXDRInt64() }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeXDRInt64(self) }
}

extension UInt64: XDRCodable {
    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) { self = try buffer.readXDRUInt64() }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeXDRUInt64(self) }
}

extension Bool: XDRCodable {
    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) { self = try buffer.readXDRBool() }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeXDRBool(self) }
}

extension Double: XDRCodable {
    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) { self = try buffer.readXDRDouble() }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeXDRDouble(self) }
}

extension Float: XDRCodable {
    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) { self = try buffer.readXDRFloat() }
    public func encode(into buffer: inout ByteBuffer) { buffer.writeXDRFloat(self) }
}
