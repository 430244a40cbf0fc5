import CorralDaemon
import CorralProtocol
import Testing

@Suite("Server connection state machine")
struct ServerConnectionStateMachineTests {
    func call(_ procedure: Int32, program: RPCProgram = .remote) -> RPCHeader {
        RPCHeader(program: program, procedure: procedure, type: .call, serial: 1)
    }

    @Test("virsh's connect sequence: AUTH_LIST, feature query, open, features, close callback, close")
    func virshSequence() {
        var machine = ServerConnectionStateMachine(socketIsReadOnly: false)
        #expect(machine.packetReceived(call(66)) == .dispatchRemote(.authList))
        #expect(machine.packetReceived(call(60)) == .dispatchRemote(.connectSupportsFeature))
        #expect(machine.packetReceived(call(1)) == .dispatchOpen)
        #expect(machine.openRequested(name: "qemu:///system", flags: []) == nil)
        #expect(machine.state == .open(uri: "qemu:///system"))
        #expect(machine.packetReceived(call(60)) == .dispatchRemote(.connectSupportsFeature))
        #expect(machine.packetReceived(call(360)) == .dispatchRemote(.connectRegisterCloseCallback))
        #expect(machine.packetReceived(call(59)) == .dispatchRemote(.connectGetHostname))
        #expect(machine.packetReceived(call(2)) == .replyAndClose)
        #expect(machine.state == .closed)
    }

    @Test("calls before open get libvirt's 'connection not open'")
    func beforeOpen() {
        var machine = ServerConnectionStateMachine(socketIsReadOnly: false)
        #expect(machine.packetReceived(call(59)) == .replyError(.internalError("connection not open", domain: .rpc)))
        // …and the connection still works.
        #expect(machine.packetReceived(call(1)) == .dispatchOpen)
    }

    @Test("a second open is refused")
    func secondOpen() {
        var machine = ServerConnectionStateMachine(socketIsReadOnly: false)
        _ = machine.packetReceived(call(1))
        #expect(machine.openRequested(name: "qemu:///session", flags: []) == nil)
        #expect(machine.packetReceived(call(1)) == .replyError(.internalError("connection already open", domain: .rpc)))
        #expect(machine.openRequested(name: "qemu:///system", flags: []) != nil)
    }

    @Test("unknown URIs are refused; an empty name picks qemu:///system")
    func openNames() {
        var machine = ServerConnectionStateMachine(socketIsReadOnly: false)
        #expect(machine.openRequested(name: "xen:///system", flags: [])?.code == .noConnect)
        #expect(machine.openRequested(name: nil, flags: []) == nil)
        #expect(machine.openURI == "qemu:///system")
    }

    @Test("unknown procedures and programs get the errors libvirtd sends")
    func unknown() {
        var machine = ServerConnectionStateMachine(socketIsReadOnly: false)
        #expect(machine.packetReceived(call(9999)) == .replyError(.unknownProcedure(9999)))
        let stranger = RPCHeader(program: 0x1234, procedure: 1, type: .call, serial: 1)
        #expect(machine.packetReceived(stranger) == .replyError(RemoteError(code: .rpc, domain: .rpc, detail: "Cannot find program 4660 version 1")))
        var badVersion = call(66)
        badVersion.version = 2
        if case .replyError(let error) = machine.packetReceived(badVersion) {
            #expect(error.code == .rpc)
        } else {
            Issue.record("a wrong version must be refused")
        }
    }

    @Test("keepalive PINGs are answered in any state; other non-calls are ignored")
    func keepalive() {
        var machine = ServerConnectionStateMachine(socketIsReadOnly: true)
        let ping = RPCHeader(program: .keepalive, procedure: 1, type: .message, serial: 0)
        let pong = RPCHeader(program: .keepalive, procedure: 2, type: .message, serial: 0)
        #expect(machine.packetReceived(ping) == .sendPong)
        #expect(machine.packetReceived(pong) == .ignore)
        #expect(machine.packetReceived(RPCHeader(program: .remote, procedure: 59, type: .reply, serial: 3)) == .ignore)
        #expect(machine.packetReceived(RPCHeader(program: .remote, procedure: 59, type: .stream, serial: 3)) == .ignore)
    }

    @Test("read-only comes from the socket or from the open flag")
    func readOnly() {
        var fromSocket = ServerConnectionStateMachine(socketIsReadOnly: true)
        #expect(fromSocket.openRequested(name: "qemu:///system", flags: []) == nil)
        #expect(fromSocket.isReadOnly)
        var fromFlag = ServerConnectionStateMachine(socketIsReadOnly: false)
        #expect(fromFlag.openRequested(name: "qemu:///system", flags: [.readOnly, .user, .autostart]) == nil)
        #expect(fromFlag.isReadOnly)
        var readWrite = ServerConnectionStateMachine(socketIsReadOnly: false)
        #expect(readWrite.openRequested(name: "qemu:///system", flags: [.user]) == nil)
        #expect(!readWrite.isReadOnly)
    }
}

@Suite("Server connection state machine: authentication")
struct ServerAuthenticationTests {
    func call(_ procedure: Int32, program: RPCProgram = .remote) -> RPCHeader {
        ServerConnectionStateMachineTests().call(procedure, program: program)
    }

    @Test("a SASL listener serves only AUTH_* until the client authenticated, as libvirtd")
    func saslGate() {
        var machine = ServerConnectionStateMachine(socketIsReadOnly: false, authentication: .sasl)
        let required = RemoteError(code: .rpc, domain: .rpc, detail: "authentication required")
        #expect(machine.packetReceived(call(66)) == .dispatchRemote(.authList))
        #expect(machine.packetReceived(call(60)) == .replyError(required))
        #expect(machine.packetReceived(call(1)) == .replyError(required))
        #expect(machine.packetReceived(call(1, program: .qemu)) == .replyError(required))
        #expect(machine.packetReceived(call(67)) == .dispatchAuthentication(.authSaslInit))
        #expect(machine.packetReceived(call(68)) == .dispatchAuthentication(.authSaslStart))
        #expect(machine.packetReceived(call(69)) == .dispatchAuthentication(.authSaslStep))
        #expect(machine.packetReceived(call(70)) == .dispatchAuthentication(.authPolkit))
        machine.authenticationSucceeded()
        #expect(machine.packetReceived(call(60)) == .dispatchRemote(.connectSupportsFeature))
        #expect(machine.packetReceived(call(1)) == .dispatchOpen)
    }

    @Test("without authentication AUTH_SASL_* still reach the handler, which refuses them")
    func noneScheme() {
        var machine = ServerConnectionStateMachine(socketIsReadOnly: false)
        #expect(machine.isAuthenticated)
        #expect(machine.packetReceived(call(67)) == .dispatchAuthentication(.authSaslInit))
    }
}
