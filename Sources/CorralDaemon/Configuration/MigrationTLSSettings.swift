/// Where QEMU finds its x509 files for a migration with `VIR_MIGRATE_TLS` (qemu.conf's
/// `migrate_tls_x509_cert_dir` and `migrate_tls_x509_verify`): `ca-cert.pem`, `server-cert.pem`
/// and `server-key.pem` for the destination, `client-cert.pem` and `client-key.pem` for the
/// source, as QEMU's `tls-creds-x509` object reads them.
public struct MigrationTLSSettings: Sendable, Equatable {
    /// The directory (libvirt's default, `/etc/pki/qemu`).
    public var directory = "/etc/pki/qemu"
    /// Whether the destination's QEMU requires and checks the source's client certificate.
    public var verifyPeer = true

    public init() {}

    /// The files an endpoint needs, in the order QEMU reads them.
    public static func files(server: Bool) -> [String] {
        server ? ["ca-cert.pem", "server-cert.pem", "server-key.pem"] : ["ca-cert.pem", "client-cert.pem", "client-key.pem"]
    }
}
