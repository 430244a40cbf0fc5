public import NIOCore

/// Bounds on what clients can hold in the daemon, with libvirtd's defaults where it has them
/// (`libvirtd.conf`): a flood of connections or of pipelined calls costs its sender, not others.
public struct ConnectionLimits: Sendable {
    /// Connections open at once (libvirt's `max_clients`); past it a new connection is closed
    /// at once, and the log says so once per burst.
    public var maximumClients = 5000
    /// Calls of one connection being worked on at once (libvirt's `max_client_requests`). Past
    /// it the connection's further calls wait, unread, until one finishes; cheap calls answered
    /// on the spot do not count.
    public var maximumRequestsPerClient = 5
    /// How long a connection may stay without `CONNECT_OPEN` before it is closed, so idle
    /// connections cannot pile up (libvirt bounds unauthenticated clients with
    /// `max_anonymous_clients`; Corral has no authentication step, so it bounds their time).
    public var openTimeout: TimeAmount = .seconds(30)

    /// The defaults.
    public init() {}
}
