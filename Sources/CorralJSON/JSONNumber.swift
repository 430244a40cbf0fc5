/// A JSON number, kept as its text so no value changes on the way through: 64-bit unsigned
/// integers, ids larger than `Int64.max` and decimals come back exactly as they were sent.
///
/// The text always follows JSON's number grammar (RFC 8259 §6).
public struct JSONNumber: Sendable, Hashable, CustomStringConvertible {
    /// The number as JSON text.
    public let text: String

    /// A number from JSON text; `nil` unless `text` follows JSON's number grammar exactly.
    public init?(text: String) {
        guard Self.isValid(Array(text.utf8)[...]) else { return nil }
        self.text = text
    }

    /// Wraps text the parser already checked.
    init(validatedText: String) { self.text = validatedText }

    /// A signed integer.
    public init(_ value: Int64) { text = String(value) }
    /// An unsigned integer (QMP's `uint64`).
    public init(_ value: UInt64) { text = String(value) }
    /// A finite double; `nil` for infinities and NaN, which JSON cannot carry.
    public init?(_ value: Double) {
        guard value.isFinite else { return nil }
        text = "\(value)"
    }

    public var description: String { text }

    /// Whether the text has no fraction and no exponent.
    public var isInteger: Bool { !text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") } }

    /// The value as `Int64`, when it is an integer in range.
    public var int64Value: Int64? {
        if isInteger { return Int64(text) }
        return Double(text).flatMap { Int64(exactly: $0) }
    }

    /// The value as `UInt64`, when it is a non-negative integer in range.
    public var uint64Value: UInt64? {
        if isInteger { return UInt64(text) }
        return Double(text).flatMap { UInt64(exactly: $0) }
    }

    /// The value as the nearest `Double`.
    public var doubleValue: Double { Double(text) ?? .nan }

    /// JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    static func isValid(_ bytes: ArraySlice<UInt8>) -> Bool {
        var i = bytes.startIndex
        let end = bytes.endIndex
        func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
        if i < end, bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < end, isDigit(bytes[i]) else { return false }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < end, isDigit(bytes[i]) { i += 1 }
        }
        if i < end, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < end, isDigit(bytes[i]) else { return false }
            while i < end, isDigit(bytes[i]) { i += 1 }
        }
        if i < end, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < end, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < end, isDigit(bytes[i]) else { return false }
            while i < end, isDigit(bytes[i]) { i += 1 }
        }
        return i == end
    }
}
