/// Why a domain XML was refused.
public struct DomainXMLError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of problem, which decides libvirt's error code for it.
    public enum Kind: Hashable, Sendable {
        /// Not well-formed, or hostile (a DTD, an entity, too large, too deep).
        case malformed
        /// Well-formed but not a valid domain definition (`VIR_ERR_XML_ERROR`).
        case invalid
        /// Valid, but asks for something this host or Corral does not support (`VIR_ERR_CONFIG_UNSUPPORTED`).
        case unsupported
        /// A qemu-namespace error libvirt reports as an internal error of the QEMU driver.
        case namespace
        /// A missing value libvirt's parser reports as an internal error (`VIR_ERR_INTERNAL_ERROR`).
        case internalError
        /// A validation libvirt reports as the parser's detail, with no line (`VIR_ERR_XML_DETAIL`).
        case detail
    }

    /// The kind of problem.
    public var kind: Kind
    /// The 1-based line, when known.
    public var line: Int?
    /// What is wrong.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, line: Int? = nil, _ message: String) {
        self.kind = kind
        self.line = line
        self.message = message
    }

    public var description: String {
        if let line, line > 0 { return "line \(line): \(message)" }
        return message
    }
}
