/// Why the network model refused something, with libvirt's wording and kind of error.
///
/// The daemon turns ``Kind`` into libvirt's error number; the message is what libvirtd says for
/// the same input.
public struct NetworkError: Error, Hashable, Sendable, CustomStringConvertible {
    /// libvirt's error number for the problem, as a closed set.
    public enum Kind: Sendable, Hashable {
        /// `VIR_ERR_XML_ERROR`.
        case xml
        /// `VIR_ERR_XML_DETAIL`.
        case xmlDetail
        /// `VIR_ERR_NO_NAME`.
        case noName
        /// `VIR_ERR_CONFIG_UNSUPPORTED`.
        case configUnsupported
        /// `VIR_ERR_INTERNAL_ERROR`.
        case internalError
        /// `VIR_ERR_INVALID_ARG`.
        case invalidArgument
        /// `VIR_ERR_OPERATION_INVALID`.
        case operationInvalid
        /// `VIR_ERR_OPERATION_FAILED`.
        case operationFailed
        /// `VIR_ERR_OPERATION_UNSUPPORTED`.
        case operationUnsupported
    }

    /// The kind of problem.
    public var kind: Kind
    /// The detail, without libvirt's prefix for the kind.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
