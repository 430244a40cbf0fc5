/// Why the storage model refused something, with libvirt's wording and kind of error.
///
/// The daemon turns ``Kind`` into libvirt's error number; the message is what libvirtd says for
/// the same input, so people and scripts see the same text from both daemons.
public struct StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    /// libvirt's error number for the problem, as a closed set.
    public enum Kind: Sendable, Hashable {
        /// `VIR_ERR_XML_ERROR`: the XML is malformed or misses something required.
        case xml
        /// `VIR_ERR_INVALID_ARG`: a value the caller gave is not acceptable (an unknown unit).
        case invalidArgument
        /// `VIR_ERR_OVERFLOW`: a number does not fit.
        case overflow
        /// `VIR_ERR_CONFIG_UNSUPPORTED`: valid, but not something this daemon does.
        case configUnsupported
        /// `VIR_ERR_OPERATION_INVALID`: not possible in the object's current state.
        case operationInvalid
        /// `VIR_ERR_OPERATION_FAILED`.
        case operationFailed
        /// `VIR_ERR_INTERNAL_ERROR`.
        case internalError
        /// `VIR_ERR_SYSTEM_ERROR`: a system call or a tool failed; the message says which and why.
        case system
        /// `VIR_ERR_STORAGE_POOL_BUILT`.
        case poolAlreadyBuilt
        /// `VIR_ERR_STORAGE_VOL_EXIST`.
        case volumeExists
        /// `VIR_ERR_NO_STORAGE_VOL`.
        case noVolume
        /// `VIR_ERR_ARGUMENT_UNSUPPORTED`.
        case argumentUnsupported
        /// `VIR_ERR_OPERATION_UNSUPPORTED`.
        case operationUnsupported
    }

    /// The kind of problem.
    public var kind: Kind
    /// The detail, without libvirt's prefix for the kind ("XML error: " …).
    public var message: String
    /// Whether libvirt reports it from its utility code (no error domain) rather than the storage
    /// driver.
    public var fromUtility: Bool

    /// Creates an error.
    public init(_ kind: Kind, _ message: String, fromUtility: Bool = false) {
        self.kind = kind
        self.message = message
        self.fromUtility = fromUtility
    }

    public var description: String { message }

    /// A system call failed: libvirt's "cannot X 'path': strerror" form.
    public static func system(_ what: String, errno code: Int32) -> StorageError {
        StorageError(.system, "\(what): \(SystemErrorText.describe(code))")
    }
}
