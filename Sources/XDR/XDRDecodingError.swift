/// Why an XDR item could not be decoded.
///
/// Decoding never trusts a length read from the wire: every length is checked against its declared
/// maximum and against the bytes actually present before anything is allocated.
public struct XDRDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure.
    public enum Kind: Sendable, Hashable {
        /// The buffer ended before the item did.
        case truncated
        /// A length prefix exceeded the item's declared maximum.
        case lengthExceedsMaximum(length: UInt32, maximum: Int)
        /// A value is outside the set the type allows (a bad bool, enum or union discriminant).
        case invalidValue(Int64)
        /// A string was not valid UTF-8.
        case invalidUTF8
        /// Bytes were left over after the whole record was decoded.
        case trailingBytes(Int)
        /// Padding bytes were not zero.
        case nonZeroPadding
    }

    /// The kind of failure.
    public var kind: Kind
    /// What was being decoded, for the message (for example `"remote_nonnull_string"`).
    public var context: String

    /// Creates an error of the given kind.
    public init(_ kind: Kind, context: String = "") {
        self.kind = kind
        self.context = context
    }

    public var description: String {
        let what = context.isEmpty ? "" : " in \(context)"
        switch kind {
        case .truncated: return "XDR data ended early\(what)"
        case .lengthExceedsMaximum(let length, let maximum):
            return "XDR length \(length) exceeds the maximum \(maximum)\(what)"
        case .invalidValue(let value): return "invalid XDR value \(value)\(what)"
        case .invalidUTF8: return "XDR string is not valid UTF-8\(what)"
        case .trailingBytes(let count): return "\(count) unexpected trailing bytes\(what)"
        case .nonZeroPadding: return "XDR padding is not zero\(what)"
        }
    }
}
