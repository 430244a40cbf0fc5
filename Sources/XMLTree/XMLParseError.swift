/// Why a document could not be parsed.
public struct XMLParseError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The 1-based line where the problem is.
    public var line: Int
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(line: Int, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String { "line \(line): \(message)" }
}

/// Limits that bound what a document may cost to parse.
public struct XMLParseLimits: Sendable, Hashable {
    /// The largest document, in bytes.
    public var maximumBytes: Int
    /// The deepest element nesting.
    public var maximumDepth: Int
    /// The most attributes on one element.
    public var maximumAttributes: Int

    /// Creates limits.
    public init(maximumBytes: Int = 4 << 20, maximumDepth: Int = 128, maximumAttributes: Int = 256) {
        self.maximumBytes = maximumBytes
        self.maximumDepth = maximumDepth
        self.maximumAttributes = maximumAttributes
    }
}
