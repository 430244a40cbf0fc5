/// qemu.conf's TLS settings for one kind of QEMU endpoint: TCP character devices
/// (`chardev_tls`, `chardev_tls_x509_cert_dir`, `chardev_tls_x509_verify`) or NBD disks
/// (`nbd_tls`, `nbd_tls_x509_cert_dir`). The directory holds what QEMU's `tls-creds-x509`
/// object reads: `ca-cert.pem`, and `server-cert.pem`/`server-key.pem` for a listening end,
/// `client-cert.pem`/`client-key.pem` for a connecting one.
public struct TLSEndpointSettings: Sendable, Hashable {
    /// Whether TLS is used where the XML's `tls` attribute does not say (off, as libvirt's).
    public var byDefault: Bool
    /// The x509 directory (libvirt's fallback, `/etc/pki/qemu`).
    public var directory: String
    /// Whether QEMU checks the other end's certificate (`verify-peer`): a listening character
    /// device asks its clients for one when this is on.
    public var verifyPeer: Bool

    public init(byDefault: Bool = false, directory: String = "/etc/pki/qemu", verifyPeer: Bool = true) {
        self.byDefault = byDefault
        self.directory = directory
        self.verifyPeer = verifyPeer
    }

    /// Whether an endpoint whose XML says `tls` (or nothing) speaks TLS.
    public func uses(_ tls: Bool?) -> Bool { tls ?? byDefault }
}
