import NIOCore
import Testing
import XDR

@Suite("XDR primitives (RFC 4506)")
struct XDRPrimitiveTests {
    @Test("integers are big-endian and sized as RFC 4506 says")
    func integers() throws {
        var buffer = ByteBuffer()
        buffer.writeXDRInt32(-2)
        buffer.writeXDRUInt32(0xDEAD_BEEF)
        buffer.writeXDRInt64(-3)
        buffer.writeXDRUInt64(0x0102_0304_0506_0708)
        #expect(Array(buffer.readableBytesView) == [
            0xFF, 0xFF, 0xFF, 0xFE, 0xDE, 0xAD, 0xBE, 0xEF,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFD, 1, 2, 3, 4, 5, 6, 7, 8,
        ])
        #expect(try buffer.readXDRInt32() == -2)
        #expect(try buffer.readXDRUInt32() == 0xDEAD_BEEF)
        #expect(try buffer.readXDRInt64() == -3)
        #expect(try buffer.readXDRUInt64() == 0x0102_0304_0506_0708)
        #expect(throws: XDRDecodingError.self) { try buffer.readXDRInt32() }
    }

    @Test("libvirt's char and short take four bytes each")
    func charAndShort() throws {
        var buffer = ByteBuffer()
        buffer.writeXDRChar(65)
        buffer.writeXDRUInt16(513)
        buffer.writeXDRUInt8(200)
        #expect(buffer.readableBytes == 12)
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 65, 0, 0, 2, 1, 0, 0, 0, 200])
        #expect(try buffer.readXDRChar() == 65)
        #expect(try buffer.readXDRUInt16() == 513)
        #expect(try buffer.readXDRUInt8() == 200)
        var wide = ByteBuffer()
        wide.writeXDRUInt32(70_000)
        #expect(throws: XDRDecodingError.self) { try wide.readXDRUInt16() }
    }

    @Test("bool accepts only 0 and 1")
    func bools() throws {
        var buffer = ByteBuffer()
        buffer.writeXDRBool(true)
        buffer.writeXDRBool(false)
        buffer.writeXDRInt32(2)
        #expect(try buffer.readXDRBool() == true)
        #expect(try buffer.readXDRBool() == false)
        #expect(throws: XDRDecodingError(.invalidValue(2), context: "bool")) { try buffer.readXDRBool() }
    }

    enum Color: Int32 { case red = 0, green = 1 }

    @Test("enums reject values without a case")
    func enums() throws {
        var buffer = ByteBuffer()
        buffer.writeXDREnum(Color.green)
        buffer.writeXDRInt32(7)
        #expect(try buffer.readXDREnum(Color.self) == .green)
        #expect(throws: XDRDecodingError.self) { try buffer.readXDREnum(Color.self) }
    }

    @Test("floating point round-trips bit for bit")
    func floats() throws {
        var buffer = ByteBuffer()
        buffer.writeXDRFloat(1.5)
        buffer.writeXDRDouble(-0.1)
        #expect(Array(buffer.readableBytesView.prefix(4)) == [0x3F, 0xC0, 0, 0])
        #expect(try buffer.readXDRFloat() == 1.5)
        #expect(try buffer.readXDRDouble() == -0.1)
    }

    @Test("strings are padded with zeros to a multiple of four", arguments: ["", "a", "ab", "abc", "abcd", "héllo"])
    func strings(value: String) throws {
        var buffer = ByteBuffer()
        let written = buffer.writeXDRString(value)
        let length = value.utf8.count
        #expect(written == 4 + length + (4 - length % 4) % 4)
        #expect(buffer.readableBytes == written)
        #expect(buffer.readableBytesView.suffix(written - 4 - length).allSatisfy { $0 == 0 })
        #expect(try buffer.readXDRString(maximumLength: 100) == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test("a string longer than its maximum is refused before it is read")
    func stringMaximum() {
        var buffer = ByteBuffer()
        buffer.writeXDRString("abcdefgh")
        #expect(throws: XDRDecodingError(.lengthExceedsMaximum(length: 8, maximum: 4), context: "string")) {
            try buffer.readXDRString(maximumLength: 4)
        }
    }

    @Test("a length claiming more bytes than present is refused without allocating")
    func lyingLength() {
        var buffer = ByteBuffer()
        buffer.writeXDRUInt32(0x7FFF_FFF0)
        buffer.writeString("abc")
        #expect(throws: XDRDecodingError(.truncated, context: "string")) { try buffer.readXDRString(maximumLength: Int(Int32.max)) }
        var opaque = ByteBuffer()
        opaque.writeXDRUInt32(1000)
        #expect(throws: XDRDecodingError.self) { try opaque.readXDRVariableOpaque(maximumLength: 4096) }
    }

    @Test("invalid UTF-8 and non-zero padding are errors")
    func badStrings() {
        var invalid = ByteBuffer()
        invalid.writeXDRUInt32(2)
        invalid.writeBytes([0xC3, 0x28, 0, 0])
        #expect(throws: XDRDecodingError.self) { try invalid.readXDRString(maximumLength: 10) }
        var padding = ByteBuffer()
        padding.writeXDRUInt32(1)
        padding.writeBytes([0x41, 0, 1, 0])
        #expect(throws: XDRDecodingError(.nonZeroPadding)) { try padding.readXDRString(maximumLength: 10) }
    }

    @Test("fixed and variable opaque data")
    func opaque() throws {
        var buffer = ByteBuffer()
        buffer.writeXDRFixedOpaque([1, 2, 3])
        buffer.writeXDRVariableOpaque([9, 8, 7, 6, 5])
        #expect(buffer.readableBytes == 4 + 4 + 8)
        #expect(try buffer.readXDRFixedOpaque(count: 3) == [1, 2, 3])
        #expect(Array(try buffer.readXDRVariableOpaque(maximumLength: 5).readableBytesView) == [9, 8, 7, 6, 5])
    }

    @Test("arrays check their maximum and the bytes present before allocating")
    func arrays() throws {
        var buffer = ByteBuffer()
        buffer.writeXDRArray([Int32(1), 2, 3]) { $0.writeXDRInt32($1) }
        var copy = buffer
        #expect(try buffer.readXDRArray(maximumCount: 3) { (b: inout ByteBuffer) throws(XDRDecodingError) in try b.readXDRInt32() } == [1, 2, 3])
        #expect(throws: XDRDecodingError.self) {
            try copy.readXDRArray(maximumCount: 2) { (b: inout ByteBuffer) throws(XDRDecodingError) in try b.readXDRInt32() }
        }
        var huge = ByteBuffer()
        huge.writeXDRUInt32(50_000_000)
        #expect(throws: XDRDecodingError(.truncated, context: "array")) {
            try huge.readXDRArray(maximumCount: .max) { (b: inout ByteBuffer) throws(XDRDecodingError) in try b.readXDRInt32() }
        }
        var fixed = ByteBuffer()
        fixed.writeXDRInt32(4)
        fixed.writeXDRInt32(5)
        #expect(try fixed.readXDRFixedArray(count: 2) { (b: inout ByteBuffer) throws(XDRDecodingError) in try b.readXDRInt32() } == [4, 5])
    }

    @Test("optional data is a flag and the value")
    func optionals() throws {
        var buffer = ByteBuffer()
        buffer.writeXDROptional(Int32(5)) { $0.writeXDRInt32($1) }
        buffer.writeXDROptional(Int32?.none) { $0.writeXDRInt32($1) }
        #expect(Array(buffer.readableBytesView) == [0, 0, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0])
        #expect(try buffer.readXDROptional { (b: inout ByteBuffer) throws(XDRDecodingError) in try b.readXDRInt32() } == 5)
        #expect(try buffer.readXDROptional { (b: inout ByteBuffer) throws(XDRDecodingError) in try b.readXDRInt32() } == nil)
    }

    enum Shape: Equatable { case circle(radius: Int32), square(side: Double) }

    @Test("discriminated unions pick their arm by discriminant")
    func unions() throws {
        var buffer = ByteBuffer()
        buffer.writeXDRInt32(1)
        buffer.writeXDRInt32(7)
        buffer.writeXDRInt32(2)
        buffer.writeXDRDouble(2.5)
        buffer.writeXDRInt32(9)
        func read(_ b: inout ByteBuffer) throws(XDRDecodingError) -> Shape {
            try b.readXDRUnion { (discriminant: Int32, b: inout ByteBuffer) throws(XDRDecodingError) -> Shape in
                switch discriminant {
                case 1: return .circle(radius: try b.readXDRInt32())
                case 2: return .square(side: try b.readXDRDouble())
                default: throw XDRDecodingError(.invalidValue(Int64(discriminant)), context: "shape")
                }
            }
        }
        #expect(try read(&buffer) == .circle(radius: 7))
        #expect(try read(&buffer) == .square(side: 2.5))
        #expect(throws: XDRDecodingError.self) { try read(&buffer) }
    }

    struct Pair: XDRCodable, Equatable {
        var a: Int32
        var b: String
        init(a: Int32, b: String) { self.a = a; self.b = b }
        init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) {
            a = try buffer.readXDRInt32()
            b = try buffer.readXDRString(maximumLength: 16)
        }
        func encode(into buffer: inout ByteBuffer) {
            buffer.writeXDRInt32(a)
            buffer.writeXDRString(b)
        }
    }

    @Test("a whole record must be consumed")
    func records() throws {
        var buffer = Pair(a: 1, b: "xy").xdrEncoded()
        #expect(try Pair(xdrRecord: buffer) == Pair(a: 1, b: "xy"))
        buffer.writeXDRInt32(0)
        #expect(throws: XDRDecodingError.self) { try Pair(xdrRecord: buffer) }
    }
}
