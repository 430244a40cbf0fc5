/// Bounds on what ``JSONValue/parse(_:limits:)`` accepts, so a hostile peer (a guest agent, a
/// client's QMP text) cannot make the parser recurse or allocate without limit.
public struct JSONLimits: Sendable, Hashable {
    /// The deepest nesting of arrays and objects.
    public var maximumDepth: Int
    /// The longest string (after unescaping) or number, in UTF-8 bytes.
    public var maximumStringBytes: Int

    /// Creates limits; the defaults suit QMP (QEMU itself nests at most 64 deep).
    public init(maximumDepth: Int = 64, maximumStringBytes: Int = 16 << 20) {
        self.maximumDepth = maximumDepth
        self.maximumStringBytes = maximumStringBytes
    }
}

/// Why a JSON text could not be read.
public struct JSONParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong, and the byte offset where it was found.
    public var message: String
    public var description: String { message }
}
