/// How a client proves who it is on a network listener (libvirtd.conf's `auth_tcp`, `auth_tls`).
public enum AuthenticationScheme: String, Sendable, Hashable, CaseIterable {
    /// No step: a TLS client is already known by its certificate; on plain TCP anyone may call.
    case none
    /// SASL through the host's Cyrus SASL library, libvirt's `libvirt` service (mechanisms and
    /// users in `/etc/sasl2/libvirt.conf` and its database, as for libvirtd).
    case sasl

    /// The number `AUTH_LIST` answers with (libvirt's `remote_auth_type`).
    var wireValue: Int32 {
        switch self {
        case .none: return 0
        case .sasl: return 1
        }
    }
}

/// The x509 files of the TLS listener, with libvirt's defaults.
public struct TLSFiles: Sendable, Hashable {
    /// The CA certificate(s) client certificates must chain to.
    public var certificateAuthority = "/etc/pki/CA/cacert.pem"
    /// The server's certificate.
    public var certificate = "/etc/pki/libvirt/servercert.pem"
    /// The server's private key.
    public var privateKey = "/etc/pki/libvirt/private/serverkey.pem"
    /// The CA's revocation list; used when the file exists (libvirt's rule for its default).
    public var revocationList = "/etc/pki/CA/cacrl.pem"
    /// Whether the revocation list was named in the configuration (then it must exist).
    public var revocationListRequired = false

    /// libvirt's default files.
    public init() {}
}

/// The daemon's network listeners: TLS and plain TCP (libvirtd.conf's listen settings).
///
/// As with libvirtd, the network listeners open only when the daemon is asked to listen
/// (`corrald --listen`); then `listen_tls` (on by default) and `listen_tcp` (off by default) choose
/// which.
public struct RemoteAccess: Sendable, Hashable {
    /// Whether network listeners open at all (`--listen`).
    public var listen = false
    /// The TLS listener (`listen_tls`).
    public var listenTLS = true
    /// The plain TCP listener (`listen_tcp`).
    public var listenTCP = false
    /// The TLS port (`tls_port`).
    public var tlsPort = 16514
    /// The TCP port (`tcp_port`).
    public var tcpPort = 16509
    /// The address to listen on (`listen_addr`); `nil` listens on every address, IPv6 and IPv4.
    public var listenAddress: String?
    /// How TCP clients authenticate (`auth_tcp`, libvirt's default `sasl`).
    public var tcpAuthentication: AuthenticationScheme = .sasl
    /// How TLS clients authenticate beyond their certificate (`auth_tls`, default `none`).
    public var tlsAuthentication: AuthenticationScheme = .none
    /// The TLS listener's certificates.
    public var tlsFiles = TLSFiles()
    /// Client certificate subjects allowed in (`tls_allowed_dn_list`, shell wildcards); `nil`
    /// allows every certificate the CA signed, an empty list nobody.
    public var allowedDistinguishedNames: [String]?

    /// libvirt's defaults.
    public init() {}
}

/// Ownership and permissions of the daemon's Unix sockets.
public struct UnixSocketAccess: Sendable, Hashable {
    /// The group that owns the sockets (`unix_sock_group`), or `nil` for the daemon's.
    public var group: String?
    /// The read-only socket's permissions (`unix_sock_ro_perms`).
    public var readOnlyPermissions: UInt32 = 0o666
    /// The read-write socket's permissions (`unix_sock_rw_perms`); owner only by default, since
    /// Corral has no polkit.
    public var readWritePermissions: UInt32 = 0o600
    /// Whether the daemon also serves libvirt's own socket paths (`/run/libvirt/libvirt-sock` and
    /// `-ro`, or the session's under `$XDG_RUNTIME_DIR/libvirt`), so every `qemu:///system`
    /// client reaches it unchanged where it replaces libvirtd.
    public var servesLibvirtSockets = false

    /// The defaults.
    public init() {}
}

/// The daemon's keepalive towards clients that asked for it (libvirtd.conf's names).
public struct KeepaliveSettings: Sendable, Hashable {
    /// Seconds without a message from the client before a PING (`keepalive_interval`); -1 turns
    /// keepalive off.
    public var interval = 5
    /// PINGs left unanswered before the connection is closed (`keepalive_count`); 0 sends none.
    public var count = 5

    /// libvirt's defaults.
    public init() {}
}
