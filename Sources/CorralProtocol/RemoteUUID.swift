public import NIOCore
public import XDR

/// A domain's UUID as it crosses the wire (`remote_uuid`, 16 raw bytes).
public struct RemoteUUID: XDRCodable, Hashable, CustomStringConvertible {
    /// The 16 bytes, most significant first.
    public var bytes: (UInt64, UInt64)

    /// Creates a UUID from its two 64-bit halves.
    public init(high: UInt64, low: UInt64) { bytes = (high, low) }

    /// Parses the canonical `8-4-4-4-12` form, with or without dashes; `nil` if malformed.
    public init?(_ text: some StringProtocol) {
        var digits: [UInt8] = []
        digits.reserveCapacity(32)
        for c in text.utf8 {
            if c == UInt8(ascii: "-") { continue }
            guard let v = Self.hexValue(c) else { return nil }
            digits.append(v)
        }
        guard digits.count == 32 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        for d in digits[0..<16] { high = high << 4 | UInt64(d) }
        for d in digits[16..<32] { low = low << 4 | UInt64(d) }
        bytes = (high, low)
    }

    /// A random (version 4) UUID.
    public static func random() -> RemoteUUID {
        var g = SystemRandomNumberGenerator()
        let high = (g.next() & ~0xF000) | 0x4000
        let low = (g.next() & ~(0xC000_0000_0000_0000 as UInt64)) | 0x8000_0000_0000_0000
        return RemoteUUID(high: high, low: low)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    public init(xdr buffer: inout ByteBuffer) throws(XDRDecodingError) {
        guard let high = buffer.readInteger(endianness: .big, as: UInt64.self),
            let low = buffer.readInteger(endianness: .big, as: UInt64.self)
        else { throw XDRDecodingError(.truncated, context: "remote_uuid") }
        bytes = (high, low)
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(bytes.0, endianness: .big)
        buffer.writeInteger(bytes.1, endianness: .big)
    }

    /// The canonical lower-case `8-4-4-4-12` form.
    public var description: String {
        let hex = Self.hex(bytes.0, digits: 16) + Self.hex(bytes.1, digits: 16)
        let chars = Array(hex)
        return String(chars[0..<8]) + "-" + String(chars[8..<12]) + "-" + String(chars[12..<16]) + "-"
            + String(chars[16..<20]) + "-" + String(chars[20..<32])
    }

    private static func hex(_ value: UInt64, digits: Int) -> String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: digits - s.count) + s
    }

    public static func == (a: RemoteUUID, b: RemoteUUID) -> Bool { a.bytes == b.bytes }
    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.0)
        hasher.combine(bytes.1)
    }
}
