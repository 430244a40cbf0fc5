public import CorralProtocol

/// An error from a Corral client call.
///
/// ``code`` says what kind of failure it was; for errors the daemon reported, ``remote`` carries
/// libvirt's error number, domain and message.
public struct CorralClientError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure, extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case connectionFailed, connectionClosed, protocolViolation, remote, invalidURI, timeout, localFailure }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// The socket could not be reached.
        public static var connectionFailed: Self { .init(.connectionFailed) }
        /// The connection closed before the reply arrived.
        public static var connectionClosed: Self { .init(.connectionClosed) }
        /// The peer broke the protocol (an unexpected reply, undecodable data).
        public static var protocolViolation: Self { .init(.protocolViolation) }
        /// The daemon answered with an error; see ``CorralClientError/remote``.
        public static var remote: Self { .init(.remote) }
        /// The connection URI was not understood.
        public static var invalidURI: Self { .init(.invalidURI) }
        /// The peer stopped answering keepalive PINGs.
        public static var timeout: Self { .init(.timeout) }
        /// Something on the client's side failed (a local file could not be written).
        public static var localFailure: Self { .init(.localFailure) }
        public var description: String { "\(base)" }
    }

    /// The kind of failure.
    public var code: Code
    /// A message a person can act on.
    public var message: String
    /// The daemon's error, when ``code`` is ``Code/remote``.
    public var remote: RemoteError?

    /// Creates an error.
    public init(code: Code, message: String, remote: RemoteError? = nil) {
        self.code = code
        self.message = message
        self.remote = remote
    }

    /// Wraps an error the daemon sent.
    public init(remote: RemoteError) {
        self.init(code: .remote, message: remote.description, remote: remote)
    }

    public var description: String { message }

    /// Whether the daemon said the procedure is not supported (libvirt's `VIR_ERR_NO_SUPPORT`,
    /// including the "unknown procedure" answer clients map to it).
    public var isNotSupported: Bool {
        guard let remote else { return false }
        if remote.code == .noSupport { return true }
        return remote.code == .rpc && (remote.message ?? "").hasPrefix("unknown procedure")
    }
}
