public import NIOCore

// RFC 4506 primitives as prefixed `ByteBuffer` extensions.
//
// Reads throw ``XDRDecodingError`` on short input rather than returning `nil`: XDR payloads are
// always complete records (the frame decoder has already waited for every byte), so a short item
// is malformed input, never "wait for more".

/// The number of zero bytes that pad `length` bytes up to a multiple of four (RFC 4506 §3).
@inlinable
func xdrPadding(_ length: Int) -> Int { (4 - length & 3) & 3 }

extension ByteBuffer {
    // MARK: - Integers (RFC 4506 §4.1–4.5)

    /// Reads a signed 32-bit XDR integer.
    @inlinable
    public mutating func readXDRInt32() throws(XDRDecodingError) -> Int32 {
        guard let value = readInteger(endianness: .big, as: Int32.self) else { throw XDRDecodingError(.truncated, context: "int") }
        return value
    }

    /// Reads an unsigned 32-bit XDR integer.
    @inlinable
    public mutating func readXDRUInt32() throws(XDRDecodingError) -> UInt32 {
        guard let value = readInteger(endianness: .big, as: UInt32.self) else { throw XDRDecodingError(.truncated, context: "unsigned int") }
        return value
    }

    /// Reads a signed 64-bit XDR hyper integer.
    @inlinable
    public mutating func readXDRInt64() throws(XDRDecodingError) -> Int64 {
        guard let value = readInteger(endianness: .big, as: Int64.self) else { throw XDRDecodingError(.truncated, context: "hyper") }
        return value
    }

    /// Reads an unsigned 64-bit XDR hyper integer.
    @inlinable
    public mutating func readXDRUInt64() throws(XDRDecodingError) -> UInt64 {
        guard let value = readInteger(endianness: .big, as: UInt64.self) else { throw XDRDecodingError(.truncated, context: "unsigned hyper") }
        return value
    }

    /// Writes a signed 32-bit XDR integer; returns the bytes written (4).
    @inlinable @discardableResult
    public mutating func writeXDRInt32(_ value: Int32) -> Int { writeInteger(value, endianness: .big) }

    /// Writes an unsigned 32-bit XDR integer; returns the bytes written (4).
    @inlinable @discardableResult
    public mutating func writeXDRUInt32(_ value: UInt32) -> Int { writeInteger(value, endianness: .big) }

    /// Writes a signed 64-bit XDR hyper; returns the bytes written (8).
    @inlinable @discardableResult
    public mutating func writeXDRInt64(_ value: Int64) -> Int { writeInteger(value, endianness: .big) }

    /// Writes an unsigned 64-bit XDR hyper; returns the bytes written (8).
    @inlinable @discardableResult
    public mutating func writeXDRUInt64(_ value: UInt64) -> Int { writeInteger(value, endianness: .big) }

    // MARK: - libvirt's char and short (4 bytes each, promoted to int)

    /// Reads a `char` as libvirt's XDR sends it: four bytes, the low byte significant.
    public mutating func readXDRChar() throws(XDRDecodingError) -> Int8 {
        let wide = try readXDRInt32()
        guard wide >= Int32(Int8.min), wide <= Int32(UInt8.max) else { throw XDRDecodingError(.invalidValue(Int64(wide)), context: "char") }
        return Int8(truncatingIfNeeded: wide)
    }

    /// Writes a `char` as four bytes.
    @discardableResult
    public mutating func writeXDRChar(_ value: Int8) -> Int { writeXDRInt32(Int32(value)) }

    /// Reads an `unsigned short` as four bytes.
    public mutating func readXDRUInt16() throws(XDRDecodingError) -> UInt16 {
        let wide = try readXDRUInt32()
        guard wide <= UInt32(UInt16.max) else { throw XDRDecodingError(.invalidValue(Int64(wide)), context: "unsigned short") }
        return UInt16(wide)
    }

    /// Writes an `unsigned short` as four bytes.
    @discardableResult
    public mutating func writeXDRUInt16(_ value: UInt16) -> Int { writeXDRUInt32(UInt32(value)) }

    /// Reads an `unsigned char` as four bytes.
    public mutating func readXDRUInt8() throws(XDRDecodingError) -> UInt8 {
        let wide = try readXDRUInt32()
        guard wide <= UInt32(UInt8.max) else { throw XDRDecodingError(.invalidValue(Int64(wide)), context: "unsigned char") }
        return UInt8(wide)
    }

    /// Writes an `unsigned char` as four bytes.
    @discardableResult
    public mutating func writeXDRUInt8(_ value: UInt8) -> Int { writeXDRUInt32(UInt32(value)) }

    // MARK: - Booleans and enums (RFC 4506 §4.3, §4.4)

    /// Reads an XDR boolean; anything but 0 or 1 is an error.
    public mutating func readXDRBool() throws(XDRDecodingError) -> Bool {
        switch try readXDRInt32() {
        case 0: return false
        case 1: return true
        case let other: throw XDRDecodingError(.invalidValue(Int64(other)), context: "bool")
        }
    }

    /// Writes an XDR boolean.
    @discardableResult
    public mutating func writeXDRBool(_ value: Bool) -> Int { writeXDRInt32(value ? 1 : 0) }

    /// Reads an XDR enum into a Swift enum; a value with no case is an error.
    public mutating func readXDREnum<E: RawRepresentable>(_: E.Type = E.self) throws(XDRDecodingError) -> E where E.RawValue == Int32 {
        let raw = try readXDRInt32()
        guard let value = E(rawValue: raw) else { throw XDRDecodingError(.invalidValue(Int64(raw)), context: "\(E.self)") }
        return value
    }

    /// Writes an XDR enum.
    @discardableResult
    public mutating func writeXDREnum<E: RawRepresentable>(_ value: E) -> Int where E.RawValue == Int32 {
        writeXDRInt32(value.rawValue)
    }

    // MARK: - Floating point (RFC 4506 §4.6, §4.7)

    /// Reads an IEEE single-precision float.
    public mutating func readXDRFloat() throws(XDRDecodingError) -> Float { Float(bitPattern: try readXDRUInt32()) }

    /// Writes an IEEE single-precision float.
    @discardableResult
    public mutating func writeXDRFloat(_ value: Float) -> Int { writeXDRUInt32(value.bitPattern) }

    /// Reads an IEEE double-precision float.
    public mutating func readXDRDouble() throws(XDRDecodingError) -> Double { Double(bitPattern: try readXDRUInt64()) }

    /// Writes an IEEE double-precision float.
    @discardableResult
    public mutating func writeXDRDouble(_ value: Double) -> Int { writeXDRUInt64(value.bitPattern) }

    // MARK: - Opaque data and strings (RFC 4506 §4.9–4.11)

    /// Reads fixed-length opaque data of `count` bytes and its padding.
    public mutating func readXDRFixedOpaque(count: Int) throws(XDRDecodingError) -> [UInt8] {
        let padded = count + xdrPadding(count)
        guard readableBytes >= padded, let bytes = readBytes(length: count) else { throw XDRDecodingError(.truncated, context: "opaque[\(count)]") }
        try skipXDRPadding(xdrPadding(count))
        return bytes
    }

    /// Writes fixed-length opaque data and its padding.
    @discardableResult
    public mutating func writeXDRFixedOpaque(_ bytes: some Collection<UInt8>) -> Int {
        let written = writeBytes(bytes)
        return written + writeRepeatingByte(0, count: xdrPadding(written))
    }

    /// Reads variable-length opaque data (`opaque<maximumLength>`) as a slice of this buffer.
    ///
    /// The length is checked against `maximumLength` and against the readable bytes before anything
    /// is read.
    public mutating func readXDRVariableOpaque(maximumLength: Int) throws(XDRDecodingError) -> ByteBuffer {
        let length = try readXDRLength(maximumLength: maximumLength, context: "opaque<>")
        guard let slice = readSlice(length: length) else { throw XDRDecodingError(.truncated, context: "opaque<>") }
        try skipXDRPadding(xdrPadding(length))
        return slice
    }

    /// Writes variable-length opaque data.
    @discardableResult
    public mutating func writeXDRVariableOpaque(_ bytes: some Collection<UInt8>) -> Int {
        writeXDRUInt32(UInt32(bytes.count)) + writeXDRFixedOpaque(bytes)
    }

    /// Reads an XDR string (`string<maximumLength>`).
    ///
    /// - Throws: ``XDRDecodingError`` if the length exceeds `maximumLength`, exceeds the bytes
    ///   present, or the bytes are not UTF-8.
    public mutating func readXDRString(maximumLength: Int) throws(XDRDecodingError) -> String {
        let length = try readXDRLength(maximumLength: maximumLength, context: "string")
        guard let string = readString(length: length) else { throw XDRDecodingError(.truncated, context: "string") }
        // `readString` repairs invalid UTF-8; libvirt strings are UTF-8, so refuse repaired text.
        if string.utf8.count != length { throw XDRDecodingError(.invalidUTF8, context: "string") }
        try skipXDRPadding(xdrPadding(length))
        return string
    }

    /// Writes an XDR string: its UTF-8 length, the bytes, and zero padding.
    @discardableResult
    public mutating func writeXDRString(_ value: String) -> Int {
        let lengthIndex = writerIndex
        writeXDRUInt32(0)
        let length = writeString(value)
        setInteger(UInt32(length), at: lengthIndex, endianness: .big)
        return 4 + length + writeRepeatingByte(0, count: xdrPadding(length))
    }

    // MARK: - Arrays (RFC 4506 §4.12, §4.13)

    /// Reads a variable-length array (`T x<maximumCount>`).
    ///
    /// The count is checked against `maximumCount` and, assuming each element needs at least
    /// `minimumElementSize` bytes, against the bytes present, before the array is allocated.
    public mutating func readXDRArray<T>(
        maximumCount: Int,
        minimumElementSize: Int = 4,
        _ readElement: (inout ByteBuffer) throws(XDRDecodingError) -> T
    ) throws(XDRDecodingError) -> [T] {
        let count = Int(try readXDRUInt32())
        guard count <= maximumCount else { throw XDRDecodingError(.lengthExceedsMaximum(length: UInt32(count), maximum: maximumCount), context: "array") }
        guard count * max(minimumElementSize, 0) <= readableBytes else { throw XDRDecodingError(.truncated, context: "array") }
        return try readXDRFixedArray(count: count, readElement)
    }

    /// Reads a fixed-length array of `count` elements.
    public mutating func readXDRFixedArray<T>(
        count: Int,
        _ readElement: (inout ByteBuffer) throws(XDRDecodingError) -> T
    ) throws(XDRDecodingError) -> [T] {
        var elements: [T] = []
        elements.reserveCapacity(count)
        for _ in 0..<count { elements.append(try readElement(&self)) }
        return elements
    }

    /// Writes a variable-length array: the count, then each element.
    @discardableResult
    public mutating func writeXDRArray<C: Collection>(_ elements: C, _ writeElement: (inout ByteBuffer, C.Element) -> Void) -> Int {
        let start = writerIndex
        writeXDRUInt32(UInt32(elements.count))
        for element in elements { writeElement(&self, element) }
        return writerIndex - start
    }

    // MARK: - Optional data (RFC 4506 §4.19)

    /// Reads XDR optional data: a boolean flag, then the value when the flag is set.
    public mutating func readXDROptional<T>(_ readValue: (inout ByteBuffer) throws(XDRDecodingError) -> T) throws(XDRDecodingError) -> T? {
        try readXDRBool() ? try readValue(&self) : nil
    }

    /// Writes XDR optional data.
    @discardableResult
    public mutating func writeXDROptional<T>(_ value: T?, _ writeValue: (inout ByteBuffer, T) -> Void) -> Int {
        let start = writerIndex
        if let value {
            writeXDRBool(true)
            writeValue(&self, value)
        } else {
            writeXDRBool(false)
        }
        return writerIndex - start
    }

    // MARK: - Discriminated unions (RFC 4506 §4.15)

    /// Reads a union: the discriminant, then the arm `readArm` chooses for it.
    public mutating func readXDRUnion<T>(_ readArm: (Int32, inout ByteBuffer) throws(XDRDecodingError) -> T) throws(XDRDecodingError) -> T {
        let discriminant = try readXDRInt32()
        return try readArm(discriminant, &self)
    }

    // MARK: - Generic values

    /// Reads any ``XDRDecodable`` value.
    @inlinable
    public mutating func readXDR<T: XDRDecodable>(_: T.Type = T.self) throws(XDRDecodingError) -> T { try T(xdr: &self) }

    /// Writes any ``XDREncodable`` value.
    @inlinable
    public mutating func writeXDR(_ value: some XDREncodable) { value.encode(into: &self) }

    // MARK: - Helpers

    /// Reads a length prefix and checks it against `maximumLength` and the readable bytes.
    mutating func readXDRLength(maximumLength: Int, context: String) throws(XDRDecodingError) -> Int {
        let length = try readXDRUInt32()
        guard Int(length) <= maximumLength else { throw XDRDecodingError(.lengthExceedsMaximum(length: length, maximum: maximumLength), context: context) }
        guard Int(length) + xdrPadding(Int(length)) <= readableBytes else { throw XDRDecodingError(.truncated, context: context) }
        return Int(length)
    }

    mutating func skipXDRPadding(_ count: Int) throws(XDRDecodingError) {
        guard count > 0 else { return }
        guard let bytes = readBytes(length: count) else { throw XDRDecodingError(.truncated, context: "padding") }
        if bytes.contains(where: { $0 != 0 }) { throw XDRDecodingError(.nonZeroPadding) }
    }
}
