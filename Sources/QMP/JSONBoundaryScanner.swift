/// Finds where each JSON value ends in a byte stream, as QEMU's streaming parser does: QMP
/// clients need not end messages with a newline (`qemu.qmp` does not), so input is split by
/// bracket depth, outside strings, not by lines. Pure: fed bytes, it answers offsets.
public struct JSONBoundaryScanner: Sendable {
    /// Why the stream cannot be split.
    public enum Failure: Error, Sendable, Equatable {
        /// A value nests deeper than ``maximumDepth``.
        case tooDeep
        /// A value is longer than ``maximumLength`` bytes.
        case tooLong
        /// A closing bracket with nothing open.
        case unbalanced
    }

    /// The deepest nesting accepted.
    public let maximumDepth: Int
    /// The longest value accepted, in bytes.
    public let maximumLength: Int

    private var depth = 0
    private var inString = false
    private var escaped = false
    private var started = false
    private var length = 0

    /// Creates a scanner with the given limits.
    public init(maximumDepth: Int = 64, maximumLength: Int = 16 << 20) {
        self.maximumDepth = maximumDepth
        self.maximumLength = maximumLength
    }

    /// Scans `bytes`, which continue the stream where the previous call stopped. Returns the
    /// offset just past the first complete top-level value (its end), or `nil` if the bytes end
    /// inside one. After a returned offset, scanning resumes from that offset with a fresh value.
    /// Whitespace between values is skipped; a bare scalar at top level ends at the next
    /// whitespace or bracket (the caller's JSON parser then judges it).
    public mutating func scan(_ bytes: some Collection<UInt8>) throws(Failure) -> Int? {
        var offset = 0
        for byte in bytes {
            offset += 1
            if !started {
                if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { continue }
                started = true
            }
            length += 1
            if length > maximumLength { throw .tooLong }
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                if !inString && depth == 0 { return finish(at: offset) }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > maximumDepth { throw .tooDeep }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard depth > 0 else { throw .unbalanced }
                depth -= 1
                if depth == 0 { return finish(at: offset) }
            case 0x20, 0x0A, 0x0D, 0x09:
                if depth == 0 { return finish(at: offset - 1) }
            default:
                break
            }
        }
        return nil
    }

    private mutating func finish(at offset: Int) -> Int {
        depth = 0
        inString = false
        escaped = false
        started = false
        length = 0
        return offset
    }
}
