@testable import CorralClient
import Foundation
import Testing

@Suite("Connection URIs: libvirt's transports")
struct ConnectionURITests {
    let environment = ["HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"]

    @Test("a host without a transport is TLS on 16514, as libvirt's client")
    func tlsDefault() throws {
        let uri = try ConnectionURI("qemu://server.example/system?pkipath=/p", environment: environment)
        #expect(uri.transport == .tls(
            host: "server.example", port: 16514,
            files: TLSClientFiles(directory: "/p", environment: environment), verifyServer: true))
        #expect(uri.openName == "qemu:///system")
    }

    @Test("tcp, tls with a port and no_verify, and the name sent without the transport's parameters")
    func networkForms() throws {
        #expect(try ConnectionURI("qemu+tcp://10.0.0.1/system", environment: environment).transport == .tcp(host: "10.0.0.1", port: 16509))
        let tls = try ConnectionURI("qemu+tls://h:26514/system?no_verify=1&pkipath=/d&extra=1", environment: environment)
        guard case .tls(let host, let port, let files, let verify) = tls.transport else { Issue.record("not TLS"); return }
        #expect(host == "h" && port == 26514 && !verify && files.certificate == "/d/clientcert.pem" && files.privateKey == "/d/clientkey.pem")
        #expect(tls.openName == "qemu:///system?extra=1")
    }

    @Test("libvirt's client certificate paths: the user's pair, else the system's")
    func pkiPaths() {
        let user = TLSClientFiles(directory: nil, environment: environment) { $0.hasPrefix("/home/u/.pki/libvirt/") }
        let system = TLSClientFiles(directory: nil, environment: environment) { _ in false }
        if getuid() == 0 {
            #expect(user.certificate == "/etc/pki/libvirt/clientcert.pem")
        } else {
            #expect(user.certificate == "/home/u/.pki/libvirt/clientcert.pem" && user.certificateAuthority == "/home/u/.pki/libvirt/cacert.pem")
        }
        #expect(system.privateKey == "/etc/pki/libvirt/private/clientkey.pem" && system.certificateAuthority == "/etc/pki/CA/cacert.pem")
    }

    @Test("ssh: user, port, key and socket, and the argument vector given to ssh")
    func ssh() throws {
        let uri = try ConnectionURI("corral+ssh://admin@host:2222/system?keyfile=/k&no_verify=1&socket=/run/o'dd/sock", environment: environment)
        guard case .ssh(let target) = uri.transport else { Issue.record("not ssh"); return }
        #expect(target == SSHTarget(host: "host", port: 2222, user: "admin", keyFile: "/k", verifyHostKey: false, netcat: "nc"))
        #expect(uri.socketPath == "/run/o'dd/sock" && uri.openName == "qemu:///system")
        let arguments = ClientTransports.sshArguments(target, socket: uri.socketPath)
        #expect(Array(arguments.prefix(13)) == [
            "-p", "2222", "-l", "admin", "-i", "/k", "-T", "-e", "none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        ])
        #expect(arguments[13...15] == ["--", "host", #"sh -c 'ARG=; if '\''nc'\'' -q 2>&1 | grep -q '\''requires an argument'\''; then ARG=-q0; fi; exec '\''nc'\'' $ARG -U '\''/run/o'\''\'\'''\''dd/sock'\'''"#])
        // corrald's own socket is the default for corral+ssh system URIs.
        #expect(try ConnectionURI("corral+ssh://h/system", environment: environment).socketPath == "/run/corral/corrald-sock")
    }

    @Test("refusals", arguments: [
        ("qemu+ftp://h/system", "unknown transport 'ftp' (unix, tls, tcp or ssh)"),
        ("qemu+unix://h/system", "the unix transport takes no host"),
        ("qemu+ssh://h/session", "a session URI over ssh needs socket=PATH (the remote user's runtime directory is unknown here)"),
        ("qemu+tcp:///system", "the tcp transport needs a host"),
        ("qemu:///other", "the path must be /system or /session"),
    ])
    func refusals(uri: String, why: String) {
        do {
            _ = try ConnectionURI(uri, environment: environment)
            Issue.record("\(uri) was accepted")
        } catch {
            #expect(error.code == .invalidURI && error.message == "invalid connection URI '\(uri)': \(why)")
        }
    }
}
