import CorralDaemon
import Testing

@Suite("corrald.conf: libvirtd.conf's syntax and names")
struct DaemonConfigFileTests {
    func configuration(_ text: String) throws(ConfigFileError) -> DaemonConfiguration {
        var configuration = DaemonConfiguration.defaults(environment: ["HOME": "/tmp/x"])
        try DaemonConfigFile.apply(ConfigFileSyntax.parse(text, file: "test.conf"), file: "test.conf", to: &configuration)
        return configuration
    }

    func failure(_ text: String) -> ConfigFileError? {
        do {
            _ = try configuration(text)
            return nil
        } catch {
            return error
        }
    }

    @Test("the syntax: comments, both quotes, numbers, lists over lines, ';' and a trailing comma")
    func syntax() throws {
        let entries = try ConfigFileSyntax.parse(
            """
            # a comment
            listen_tls = 0   # trailing comment
            tls_port = '26514'; tcp_port = "26509"
            tls_allowed_dn_list = [ "C=GB,*",
                # inside a list
                "CN=b" , ]
            keepalive_interval = -1
            """, file: "f")
        #expect(entries.map(\.name) == ["listen_tls", "tls_port", "tcp_port", "tls_allowed_dn_list", "keepalive_interval"])
        #expect(entries.map(\.line) == [2, 3, 3, 4, 7])
        #expect(entries[3].value == .list([.string("C=GB,*"), .string("CN=b")]))
        #expect(entries[4].value == .integer(-1))
    }

    @Test("every setting reaches the configuration")
    func settings() throws {
        let configuration = try configuration(
            """
            listen_tls = 0
            listen_tcp = 1
            tls_port = "26514"
            tcp_port = "26509"
            listen_addr = "127.0.0.1"
            auth_tcp = "none"
            auth_tls = "sasl"
            ca_file = "/etc/x/ca.pem"
            cert_file = "/etc/x/cert.pem"
            key_file = "/etc/x/key.pem"
            crl_file = "/etc/x/crl.pem"
            tls_allowed_dn_list = ["C=GB,*"]
            max_clients = 10
            max_client_requests = 3
            keepalive_interval = 7
            keepalive_count = 2
            unix_sock_group = "root"
            unix_sock_ro_perms = "0660"
            unix_sock_rw_perms = "0770"
            unix_sock_dir = "/run/elsewhere"
            serve_libvirt_sockets = 1
            migrate_tls_x509_cert_dir = "/etc/pki/qemu-migration"
            migrate_tls_x509_verify = 0
            """)
        let access = configuration.remoteAccess
        #expect(!access.listenTLS && access.listenTCP && access.tlsPort == 26514 && access.tcpPort == 26509)
        #expect(access.listenAddress == "127.0.0.1" && access.tcpAuthentication == .none && access.tlsAuthentication == .sasl)
        #expect(access.tlsFiles.certificateAuthority == "/etc/x/ca.pem" && access.tlsFiles.privateKey == "/etc/x/key.pem")
        #expect(access.tlsFiles.revocationList == "/etc/x/crl.pem" && access.tlsFiles.revocationListRequired)
        #expect(access.allowedDistinguishedNames == ["C=GB,*"])
        #expect(configuration.limits.maximumClients == 10 && configuration.limits.maximumRequestsPerClient == 3)
        #expect(configuration.keepalive.interval == 7 && configuration.keepalive.count == 2)
        #expect(configuration.unixSockets.group == "root" && configuration.unixSockets.readOnlyPermissions == 0o660)
        #expect(configuration.unixSockets.readWritePermissions == 0o770 && configuration.unixSockets.servesLibvirtSockets)
        #expect(configuration.socketPath == "/run/elsewhere/corrald-sock" && configuration.readOnlySocketPath == "/run/elsewhere/corrald-sock-ro")
        #expect(configuration.migrationTLS == {
            var settings = MigrationTLSSettings()
            settings.directory = "/etc/pki/qemu-migration"
            settings.verifyPeer = false
            return settings
        }())
    }

    @Test("libvirt's defaults without a file")
    func defaults() throws {
        let configuration = try configuration("")
        #expect(!configuration.remoteAccess.listen && configuration.remoteAccess.listenTLS && !configuration.remoteAccess.listenTCP)
        #expect(configuration.remoteAccess.tlsPort == 16514 && configuration.remoteAccess.tcpPort == 16509)
        #expect(configuration.remoteAccess.tcpAuthentication == .sasl && configuration.remoteAccess.tlsAuthentication == .none)
        #expect(configuration.remoteAccess.tlsFiles.certificate == "/etc/pki/libvirt/servercert.pem")
        #expect(configuration.keepalive.interval == 5 && configuration.keepalive.count == 5)
        #expect(configuration.migrationTLS.directory == "/etc/pki/qemu" && configuration.migrationTLS.verifyPeer)
    }

    @Test("bad files stop the daemon with the line named", arguments: [
        ("listen_tls = 1\nlog_level = 3", 2, "unknown setting 'log_level'"),
        ("listen_tls = 2", 1, "listen_tls: expected 0 or 1"),
        ("\n\ntls_port = \"0\"", 3, "tls_port: '0' is not a port number from 1 to 65535"),
        ("max_clients = 0", 1, "max_clients: 0 is out of range (1 to 1000000)"),
        ("auth_tcp = \"polkit\"", 1, "auth_tcp: 'polkit' is not supported (none or sasl)"),
        ("unix_sock_rw_perms = \"0999\"", 1, "unix_sock_rw_perms: '0999' is not octal permissions (0000 to 0777)"),
        ("unix_sock_group = \"no-such-group-here\"", 1, "unix_sock_group: no group 'no-such-group-here' on this host"),
        ("ca_file = \"/a\"\ncert_file = \"/b\"", 1, "ca_file, cert_file and key_file must be set together (missing key_file)"),
        ("listen_tls 1", 1, "expected '=' after 'listen_tls'"),
        ("tls_port = \"16514", 1, "unterminated string"),
        ("tls_allowed_dn_list = [\"a\", [\"b\"]]", 1, "lists cannot be nested"),
        ("max_clients = 99999999999999999999", 1, "number out of range"),
        ("listen_tls = 1 2", 1, "expected the end of the line after the value of 'listen_tls'"),
        ("keepalive_interval = 0", 1, "keepalive_interval: must be -1 (off) or from 1 to 86400 seconds"),
        ("ca_file = \"relative.pem\"", 1, "ca_file: expected an absolute path"),
        ("migrate_tls_x509_cert_dir = \"pki\"", 1, "migrate_tls_x509_cert_dir: expected an absolute path"),
    ])
    func refusals(text: String, line: Int, reason: String) {
        let error = failure(text)
        #expect(error == ConfigFileError(file: "test.conf", line: line, reason: reason))
    }
}
