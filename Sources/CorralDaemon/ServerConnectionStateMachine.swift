public import CorralProtocol

/// The server's view of one client connection, as a pure state machine (no I/O).
///
/// The channel handler feeds it each packet's header and acts on the returned ``Action``; the
/// machine decides what libvirtd would: which calls are allowed before `CONNECT_OPEN`, what a
/// read-only connection may do, and the exact error for everything refused. A refused call never
/// ends the connection; only framing errors (handled by the decoder) do.
public struct ServerConnectionStateMachine: Sendable {
    /// Where the connection is in its life.
    public enum State: Sendable, Hashable {
        /// Connected; only authentication, feature queries and `CONNECT_OPEN` are allowed.
        case awaitingOpen
        /// `CONNECT_OPEN` succeeded with this URI.
        case open(uri: String)
        /// `CONNECT_CLOSE` was answered; the connection closes once the reply is written.
        case closed
    }

    /// What the handler must do with a packet.
    public enum Action: Sendable, Hashable {
        /// Decode the arguments and run the handler of this REMOTE procedure.
        case dispatchRemote(RemoteProcedure)
        /// Decode the arguments and run the handler of this QEMU procedure.
        case dispatchQEMU(QemuProcedure)
        /// Decode `CONNECT_OPEN`'s arguments and call ``openRequested(name:flags:)``.
        case dispatchOpen
        /// Run this authentication step (`AUTH_SASL_*`, `AUTH_POLKIT`) on the connection's own
        /// authentication session.
        case dispatchAuthentication(RemoteProcedure)
        /// Reply OK to `CONNECT_CLOSE`, then close the connection.
        case replyAndClose
        /// Reply with this error (status ERROR, echoing the call's header).
        case replyError(RemoteError)
        /// Hand a stream packet to the connection's streams (a stream it has open, or dropped).
        case streamPacket
        /// Answer a keepalive PING.
        case sendPong
        /// Nothing to send (a PONG, or a packet type the server ignores, as libvirtd does).
        case ignore
    }

    /// The state.
    public private(set) var state: State = .awaitingOpen
    /// Whether the connection came in on the read-only socket.
    public let socketIsReadOnly: Bool
    /// Whether the connection is read-only: the socket is, or the client opened it read-only.
    public private(set) var isReadOnly: Bool
    /// What the client must do before its calls are served.
    public let authentication: AuthenticationScheme
    /// Whether it has (always, when ``authentication`` is `none`).
    public private(set) var isAuthenticated: Bool

    /// The procedures a client may call before it has authenticated (libvirt's list).
    static let allowedBeforeAuthentication: Set<RemoteProcedure> = [.authList, .authSaslInit, .authSaslStart, .authSaslStep, .authPolkit]

    /// Creates the machine for a new connection.
    public init(socketIsReadOnly: Bool, authentication: AuthenticationScheme = .none) {
        self.socketIsReadOnly = socketIsReadOnly
        self.isReadOnly = socketIsReadOnly
        self.authentication = authentication
        self.isAuthenticated = authentication == .none
    }

    /// The authentication step the client ran has succeeded.
    public mutating func authenticationSucceeded() {
        isAuthenticated = true
    }

    /// libvirt's refusal of a call before authentication (error code VIR_ERR_RPC, kept for old
    /// clients that do not know VIR_ERR_AUTH_FAILED).
    static let authenticationRequired = RemoteError(code: .rpc, domain: .rpc, detail: "authentication required")

    /// A packet arrived from the client.
    public mutating func packetReceived(_ header: RPCHeader) -> Action {
        if header.program == RPCProgram.keepalive.rawValue {
            // Keepalive packets are MESSAGEs; a PING is answered whatever the connection's state.
            return header.type == .message && header.procedure == KeepaliveProcedure.ping.rawValue ? .sendPong : .ignore
        }
        switch header.type {
        case .call, .callWithFileDescriptors: break
        case .stream, .streamHole:
            guard case .open = state else { return .ignore }
            return .streamPacket
        case .reply, .message, .replyWithFileDescriptors: return .ignore
        }
        guard header.version == RPCProgram.version, let program = RPCProgram(rawValue: header.program) else {
            return .replyError(RemoteError(code: .rpc, domain: .rpc, detail: "Cannot find program \(header.program) version \(header.version)"))
        }
        switch program {
        case .remote:
            guard let procedure = RemoteProcedure(rawValue: header.procedure) else {
                return .replyError(.unknownProcedure(header.procedure))
            }
            if procedure != .authList && Self.allowedBeforeAuthentication.contains(procedure) {
                return state == .closed ? .replyError(.internalError("connection not open", domain: .rpc)) : .dispatchAuthentication(procedure)
            }
            guard isAuthenticated || procedure == .authList else { return .replyError(Self.authenticationRequired) }
            return remoteCallReceived(procedure)
        case .qemu:
            guard let procedure = QemuProcedure(rawValue: header.procedure) else {
                return .replyError(.unknownProcedure(header.procedure))
            }
            guard isAuthenticated else { return .replyError(Self.authenticationRequired) }
            guard case .open = state else { return .replyError(.internalError("connection not open", domain: .rpc)) }
            if case .write(let api) = procedure.access, isReadOnly { return .replyError(.readOnly(api: api)) }
            return .dispatchQEMU(procedure)
        case .keepalive:
            preconditionFailure("keepalive handled above")
        }
    }

    private mutating func remoteCallReceived(_ procedure: RemoteProcedure) -> Action {
        switch state {
        case .closed:
            return .replyError(.internalError("connection not open", domain: .rpc))
        case .awaitingOpen:
            switch procedure.access {
            case .beforeOpen: return procedure == .connectOpen ? .dispatchOpen : .dispatchRemote(procedure)
            case .read, .write: return .replyError(.internalError("connection not open", domain: .rpc))
            }
        case .open:
            switch procedure.access {
            case .beforeOpen:
                return procedure == .connectOpen ? .replyError(.internalError("connection already open", domain: .rpc)) : .dispatchRemote(procedure)
            case .read:
                return procedure == .connectClose ? closeRequested() : .dispatchRemote(procedure)
            case .write(let api):
                return isReadOnly ? .replyError(.readOnly(api: api)) : .dispatchRemote(procedure)
            }
        }
    }

    private mutating func closeRequested() -> Action {
        state = .closed
        return .replyAndClose
    }

    /// The client asked to open `name` with `flags`; returns the reply to send.
    ///
    /// Accepts `qemu:///system` and `qemu:///session` (and an empty name, which asks the server
    /// to choose: it picks `qemu:///system`). Flag bit 1 makes the connection read-only; the USER
    /// and AUTOSTART bits are accepted and ignored, as libvirtd does.
    public mutating func openRequested(name: String?, flags: ConnectOpenFlags) -> RemoteError? {
        guard state == .awaitingOpen else { return .internalError("connection already open", domain: .rpc) }
        let uri: String
        switch name ?? "" {
        case "": uri = "qemu:///system"
        case "qemu:///system", "qemu:///session": uri = name!
        case let other:
            return RemoteError(code: .noConnect, domain: .none, detail: other)
        }
        state = .open(uri: uri)
        if flags.contains(.readOnly) { isReadOnly = true }
        return nil
    }

    /// The URI the connection was opened with, once open.
    public var openURI: String? {
        if case .open(let uri) = state { return uri }
        return nil
    }
}
