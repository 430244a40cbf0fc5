/// The RPC programs a libvirt connection multiplexes (`virnetprotocol.x`, `remote_protocol.x`).
public enum RPCProgram: UInt32, Sendable, Hashable, CaseIterable {
    /// `REMOTE_PROGRAM`: the hypervisor-neutral API.
    case remote = 0x2000_8086
    /// `QEMU_PROGRAM`: the QEMU passthrough API (libvirt-qemu).
    case qemu = 0x2000_8087
    /// `KEEPALIVE_PROGRAM` ("keep"): PING and PONG messages.
    case keepalive = 0x6b65_6570

    /// The only version of each program.
    public static let version: UInt32 = 1
}

/// Procedures of ``RPCProgram/keepalive``.
public enum KeepaliveProcedure: Int32, Sendable {
    /// `KEEPALIVE_PROC_PING`: asks the peer to answer with a PONG.
    case ping = 1
    /// `KEEPALIVE_PROC_PONG`: the answer to a PING.
    case pong = 2
}

/// The type of a packet (`virNetMessageType`).
public enum RPCMessageType: Int32, Sendable, Hashable {
    /// A call from the client; the client picks the serial.
    case call = 0
    /// The reply to a call, echoing its program, version, procedure and serial.
    case reply = 1
    /// An asynchronous message: an event or a keepalive packet.
    case message = 2
    /// Stream data.
    case stream = 3
    /// A call followed by file descriptors.
    case callWithFileDescriptors = 4
    /// A reply followed by file descriptors.
    case replyWithFileDescriptors = 5
    /// A hole in a sparse stream.
    case streamHole = 6
}

/// The status of a packet (`virNetMessageStatus`).
public enum RPCMessageStatus: Int32, Sendable, Hashable {
    /// Success; the payload is the procedure's reply (or call arguments).
    case ok = 0
    /// Failure; the payload is a ``RemoteError``.
    case error = 1
    /// More stream data follows.
    case `continue` = 2
}

/// Features a client asks about with `CONNECT_SUPPORTS_FEATURE` (`VIR_DRV_FEATURE_*`).
public enum ConnectionFeature: Int32, Sendable {
    /// `VIR_DRV_FEATURE_MIGRATION_P2P`: the source daemon can drive a migration itself.
    case migrationPeerToPeer = 4
    /// `VIR_DRV_FEATURE_MIGRATION_V3`: the five-phase migration protocol.
    case migrationV3 = 6
    /// `VIR_DRV_FEATURE_MIGRATE_CHANGE_PROTECTION`.
    case migrateChangeProtection = 7
    /// `VIR_DRV_FEATURE_MIGRATION_OFFLINE`.
    case migrationOffline = 12
    /// `VIR_DRV_FEATURE_MIGRATION_PARAMS`: the migration calls with typed parameters.
    case migrationParams = 13
    /// `VIR_DRV_FEATURE_FD_PASSING`.
    case fileDescriptorPassing = 8
    /// `VIR_DRV_FEATURE_TYPED_PARAM_STRING`.
    case typedParameterString = 9
    /// `VIR_DRV_FEATURE_PROGRAM_KEEPALIVE`: the server answers keepalive PINGs.
    case programKeepalive = 10
    /// `VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK`: the server implements the callback event RPCs.
    case remoteEventCallback = 14
    /// `VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK`: the server implements close-callback registration.
    case remoteCloseCallback = 15
    /// `VIR_DRV_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER`: `NETWORK_UPDATE`'s command and section
    /// arrive in the order the protocol names them (older servers had them swapped, and clients
    /// swap them for a server that does not answer yes).
    case networkUpdateHasCorrectOrder = 16
}

/// Flags of `CONNECT_OPEN` as the remote driver sends them (`REMOTE_DRIVER_OPEN_*`).
public struct ConnectOpenFlags: OptionSet, Sendable, Hashable {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// The connection is read-only (`virsh -r`).
    public static let readOnly = ConnectOpenFlags(rawValue: 1)
    /// A per-user (session) connection; accepted and ignored.
    public static let user = ConnectOpenFlags(rawValue: 2)
    /// Ask the daemon to autostart; accepted and ignored.
    public static let autostart = ConnectOpenFlags(rawValue: 4)
}
