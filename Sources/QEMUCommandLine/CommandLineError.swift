/// Why a domain cannot be turned into a QEMU command line.
public struct CommandLineError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Something the domain asks for that Corral cannot do (libvirt's CONFIG_UNSUPPORTED).
        case unsupported
        /// A passthrough rule that does not apply (an alteration matching nothing, an override
        /// for a missing alias, an unknown capability name): libvirt's internal error.
        case passthrough
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
