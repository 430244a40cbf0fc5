/// How a client connection reached the daemon, and what it must do before calling.
public struct ConnectionTransport: Sendable, Hashable {
    /// The listener it came in on.
    public enum Kind: String, Sendable, Hashable {
        case unix
        case tcp
        case tls
    }

    /// The listener's kind.
    public var kind: Kind
    /// Whether it came in on a read-only socket.
    public var socketIsReadOnly: Bool
    /// What the client must do before any other call (`AUTH_LIST` tells it).
    public var authentication: AuthenticationScheme
    /// The subject of a TLS client's certificate.
    public var peerSubject: String?
    /// The user a SASL client authenticated as.
    public var saslUsername: String?
    /// The user of the process at the other end of a Unix socket (`SO_PEERCRED`); `nil` over
    /// the network.
    public var peerUserID: UInt32?
    /// Whether SASL negotiated a security layer (encryption) on a plain TCP connection.
    public var hasSASLSecurityLayer = false

    /// Creates a transport description.
    public init(kind: Kind, socketIsReadOnly: Bool, authentication: AuthenticationScheme) {
        self.kind = kind
        self.socketIsReadOnly = socketIsReadOnly
        self.authentication = authentication
    }

    /// Whether the data on the wire is protected from others (`CONNECT_IS_SECURE`): a local
    /// socket, TLS, or TCP under a SASL security layer, as libvirt answers; plain TCP is not.
    public var isSecure: Bool { kind != .tcp || hasSASLSecurityLayer }
}
