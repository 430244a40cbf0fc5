public import NIOCore
public import XDR

// libvirt sends `char` arrays element by element, four bytes per char
// (for example `NODE_GET_INFO.model[32]` and the security model strings).

extension ByteBuffer {
    /// Reads a fixed `char[count]` array as a string, stopping at the first NUL.
    public mutating func readXDRFixedCharString(count: Int) throws(XDRDecodingError) -> String {
        guard readableBytes >= count * 4 else { throw XDRDecodingError(.truncated, context: "char[\(count)]") }
        let chars = try readXDRFixedArray(count: count) { (b: inout ByteBuffer) throws(XDRDecodingError) in UInt8(bitPattern: try b.readXDRChar()) }
        return String(decoding: chars.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Writes `value` as a fixed `char[count]` array, truncated or NUL-padded to `count`.
    public mutating func writeXDRFixedCharString(_ value: String, count: Int) {
        var bytes = Array(value.utf8.prefix(count))
        bytes += repeatElement(0, count: count - bytes.count)
        for b in bytes { writeXDRChar(Int8(bitPattern: b)) }
    }

    /// Reads a variable `char<maximumCount>` array as a string (libvirt includes the trailing NUL).
    public mutating func readXDRCharString(maximumCount: Int) throws(XDRDecodingError) -> String {
        let chars = try readXDRArray(maximumCount: maximumCount) { (b: inout ByteBuffer) throws(XDRDecodingError) in UInt8(bitPattern: try b.readXDRChar()) }
        return String(decoding: chars.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Writes `value` as a variable char array with its trailing NUL, or an empty array for "".
    public mutating func writeXDRCharString(_ value: String) {
        guard !value.isEmpty else {
            writeXDRUInt32(0)
            return
        }
        let bytes = Array(value.utf8) + [0]
        writeXDRArray(bytes) { $0.writeXDRChar(Int8(bitPattern: $1)) }
    }

    /// Reads a variable `char<maximumCount>` array as bytes (SASL's data: binary, no NUL added).
    public mutating func readXDRCharBytes(maximumCount: Int) throws(XDRDecodingError) -> [UInt8] {
        try readXDRArray(maximumCount: maximumCount) { (b: inout ByteBuffer) throws(XDRDecodingError) in UInt8(bitPattern: try b.readXDRChar()) }
    }

    /// Writes bytes as a variable char array, four bytes per char.
    public mutating func writeXDRCharBytes(_ bytes: [UInt8]) {
        writeXDRArray(bytes) { $0.writeXDRChar(Int8(bitPattern: $1)) }
    }
}
