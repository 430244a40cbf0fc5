import CorralDaemon
import Testing

@Suite("systemd socket activation (LISTEN_FDS)")
struct SocketActivationTests {
    @Test("named sockets by libvirt's unit naming")
    func named() throws {
        let sockets = try SocketActivation.sockets(
            environment: ["LISTEN_PID": "42", "LISTEN_FDS": "4", "LISTEN_FDNAMES": "corrald.socket:corrald-ro.socket:corrald-tls.socket:tcp"],
            processID: 42)
        #expect(sockets == [
            ActivatedSocket(descriptor: 3, role: .readWrite), ActivatedSocket(descriptor: 4, role: .readOnly),
            ActivatedSocket(descriptor: 5, role: .tls), ActivatedSocket(descriptor: 6, role: .tcp),
        ])
    }

    @Test("libvirtd's own unit names serve too")
    func libvirtdUnits() throws {
        let sockets = try SocketActivation.sockets(
            environment: ["LISTEN_PID": "7", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "libvirtd-ro.socket:libvirtd.socket"], processID: 7)
        #expect(sockets.map(\.role) == [.readOnly, .readWrite])
    }

    @Test("another process's sockets, or none, are not taken")
    func notOurs() throws {
        #expect(try SocketActivation.sockets(environment: ["LISTEN_PID": "8", "LISTEN_FDS": "2"], processID: 9).isEmpty)
        #expect(try SocketActivation.sockets(environment: [:], processID: 9).isEmpty)
    }

    @Test("corrald's sockets and libvirt's paths together")
    func libvirtPaths() throws {
        let sockets = try SocketActivation.sockets(
            environment: ["LISTEN_PID": "3", "LISTEN_FDS": "4", "LISTEN_FDNAMES": "corrald.socket:corrald-ro.socket:corrald-libvirt.socket:corrald-libvirt-ro.socket"],
            processID: 3)
        #expect(sockets.map(\.role) == [.readWrite, .readOnly, .readWrite, .readOnly])
    }

    @Test("unnamed sockets are read-write then read-only")
    func unnamed() throws {
        let sockets = try SocketActivation.sockets(environment: ["LISTEN_PID": "1", "LISTEN_FDS": "2"], processID: 1)
        #expect(sockets.map(\.role) == [.readWrite, .readOnly])
    }

    @Test("refusals", arguments: [
        (["LISTEN_PID": "1", "LISTEN_FDS": "x"], "LISTEN_FDS 'x' is not a count from 0 to 64"),
        (["LISTEN_PID": "1", "LISTEN_FDS": "3"], "socket 5 from systemd has no name to tell what it is for"),
        (["LISTEN_PID": "1", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "libvirtd-admin.socket"],
         "socket 'libvirtd-admin.socket' from systemd: not a corrald socket (NAME.socket, NAME-ro.socket, NAME-tls.socket or NAME-tcp.socket)"),
    ])
    func refusals(environment: [String: String], message: String) {
        #expect(throws: SocketActivation.Problem(description: message)) {
            try SocketActivation.sockets(environment: environment, processID: 1)
        }
    }
}
