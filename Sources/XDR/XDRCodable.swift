public import NIOCore

/// A value that can write itself in XDR (RFC 4506) form.
public protocol XDREncodable: Sendable {
    /// Appends the value's XDR encoding to `buffer`.
    func encode(into buffer: inout ByteBuffer)
}

/// A value that can be read from XDR (RFC 4506) form.
public protocol XDRDecodable: Sendable {
    /// Reads one value from `buffer`, advancing its reader index.
    ///
    /// - Throws: ``XDRDecodingError`` when the bytes are short, a length exceeds its maximum, or a
    ///   value is out of range.
    init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError)
}

/// A value that is both ``XDREncodable`` and ``XDRDecodable``.
public typealias XDRCodable = XDREncodable & XDRDecodable

/// The empty XDR value, used for `void` arguments and replies.
public struct XDRVoid: XDRCodable, Hashable {
    /// Creates the empty value.
    public init() {}
    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) {}
    public func encode(into buffer: inout ByteBuffer) {}
}

extension XDRDecodable {
    /// Decodes a whole record: the value must consume every byte of `buffer`.
    ///
    /// - Throws: ``XDRDecodingError`` with ``XDRDecodingError/Kind/trailingBytes(_:)`` if bytes are left.
    public init(xdrRecord buffer: ByteBuffer) throws(XDRDecodingError) {
        var copy = buffer
        try self.init(xdr: &copy)
        if copy.readableBytes != 0 {
            throw XDRDecodingError(.trailingBytes(copy.readableBytes), context: "\(Self.self)")
        }
    }
}

extension XDREncodable {
    /// The value's XDR encoding in a new buffer.
    public func xdrEncoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        encode(into: &buffer)
        return buffer
    }
}
