import NIOCore

/// What a procedure handler knows about the call's connection.
public struct CallContext: Sendable {
    /// The connection's number, unique for the daemon's lifetime (for logs and registrations).
    public var connectionID: UInt64
    /// Whether the connection is read-only.
    public var isReadOnly: Bool
    /// The URI the connection was opened with (`nil` before `CONNECT_OPEN`).
    public var openURI: String?
    /// How the connection reached the daemon (Unix socket, TCP, TLS) and how it authenticated.
    public var transport = ConnectionTransport(kind: .unix, socketIsReadOnly: false, authentication: .none)
    /// The connection's channel, for messages the daemon sends on its own (events).
    var channel: (any Channel)?
}
