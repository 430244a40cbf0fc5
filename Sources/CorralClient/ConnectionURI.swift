import Foundation

/// A libvirt-style connection URI, resolved to a transport and the name to open.
///
/// Understood forms (libvirt's `DRIVER[+TRANSPORT]://[USER@][HOST[:PORT]]/PATH[?PARAMS]`):
/// - `qemu:///system`, `qemu:///session`, `qemu+unix:///system?socket=PATH`: a local Unix socket,
///   libvirt's default ones (`/run/libvirt/libvirt-sock`, `$XDG_RUNTIME_DIR/libvirt/libvirt-sock`);
/// - `corral:///system` and `corral:///session`: corrald's default sockets
///   (`/run/corral/corrald-sock`, `$XDG_RUNTIME_DIR/corral/corrald-sock`), opened as `qemu:///…`;
/// - `qemu+tls://HOST[:PORT]/system` (and `qemu://HOST/system`): TLS, port 16514, with libvirt's
///   client certificate paths or `pkipath=DIR`, and `no_verify=1` to skip checking the server;
/// - `qemu+tcp://HOST[:PORT]/system`: plain TCP, port 16509 (a daemon without authentication);
/// - `qemu+ssh://[USER@]HOST[:PORT]/system?socket=PATH&keyfile=KEY&no_verify=1`: `ssh` runs
///   `nc -U SOCKET` on the host, as libvirt's client does.
///
/// As libvirt does, transport parameters (`socket`, `pkipath`, …) are removed from the query,
/// and the rest of the URI, with the driver as its scheme and no host, is the name sent in
/// `CONNECT_OPEN`.
public struct ConnectionURI: Sendable, Hashable, CustomStringConvertible {
    /// How the client reaches the daemon.
    public enum Transport: Sendable, Hashable {
        /// A local Unix socket (``ConnectionURI/socketPath``).
        case unix
        /// Plain TCP.
        case tcp(host: String, port: Int)
        /// TLS with a client certificate.
        case tls(host: String, port: Int, files: TLSClientFiles, verifyServer: Bool)
        /// `ssh` to the host, which connects to ``ConnectionURI/socketPath`` there with `nc`.
        case ssh(SSHTarget)
    }

    /// The URI as given.
    public var original: String
    /// The transport.
    public var transport: Transport
    /// The socket to connect to (on the daemon's host, for SSH).
    public var socketPath: String
    /// The name sent in `CONNECT_OPEN` (for example `qemu:///system`).
    public var openName: String
    /// The socket to connect to for a read-only connection.
    public var readOnlySocketPath: String

    public var description: String { original }

    private static let transportParameters: Set<String> = [
        "socket", "mode", "name", "command", "auth", "no_verify", "no_tty", "proxy", "netcat", "keyfile", "pkipath", "tls_priority",
        "authfile", "known_hosts", "known_hosts_verify", "sshauth", "no_sanity",
    ]

    /// Parses `uri`.
    ///
    /// - Throws: ``CorralClientError`` with ``CorralClientError/Code/invalidURI`` for an unknown
    ///   transport, a path other than `/system` or `/session`, or a bad port.
    public init(_ uri: String) throws(CorralClientError) {
        try self.init(uri, environment: ProcessInfo.processInfo.environment)
    }

    /// Parses `uri`, resolving default sockets and certificate paths with `environment`.
    public init(_ uri: String, environment: [String: String]) throws(CorralClientError) {
        func invalid(_ why: String) -> CorralClientError {
            CorralClientError(code: .invalidURI, message: "invalid connection URI '\(uri)': \(why)")
        }
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased() else {
            throw invalid("not a URI")
        }
        let parts = scheme.split(separator: "+", maxSplits: 1).map(String.init)
        let driver = parts[0]
        let host = components.host.flatMap { $0.isEmpty ? nil : $0 }
        // libvirt: a host without a transport means TLS.
        let transportName = parts.count > 1 ? parts[1] : (host == nil ? "unix" : "tls")
        let path = components.path.isEmpty ? "/system" : components.path
        guard path == "/system" || path == "/session" else { throw invalid("the path must be /system or /session") }
        let query = components.queryItems ?? []
        func parameter(_ name: String) -> String? { query.first { $0.name == name }?.value }
        let explicitSocket = parameter("socket")
        let explicitName = parameter("name")
        let remaining = query.filter { !Self.transportParameters.contains($0.name) }
        let noVerify = parameter("no_verify").map { $0 != "0" } ?? false
        let port = components.port
        if let port, !(1...65535).contains(port) { throw invalid("port \(port) is out of range") }

        let system = path == "/system"
        let runtime = environment["XDG_RUNTIME_DIR"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache")
        let defaultSocket: String
        let openDriver: String
        switch driver {
        case "corral":
            let directory = system && (getuid() == 0 || host != nil) ? "/run/corral" : runtime + "/corral"
            defaultSocket = directory + "/corrald-sock"
            openDriver = "qemu"
        default:
            defaultSocket = system ? "/run/libvirt/libvirt-sock" : runtime + "/libvirt/libvirt-sock"
            openDriver = driver
        }

        switch transportName {
        case "unix":
            guard host == nil else { throw invalid("the unix transport takes no host") }
            transport = .unix
        case "tcp":
            guard let host else { throw invalid("the tcp transport needs a host") }
            transport = .tcp(host: host, port: port ?? 16509)
        case "tls":
            guard let host else { throw invalid("the tls transport needs a host") }
            let files = TLSClientFiles(directory: parameter("pkipath"), environment: environment)
            transport = .tls(host: host, port: port ?? 16514, files: files, verifyServer: !noVerify)
        case "ssh":
            guard let host else { throw invalid("the ssh transport needs a host") }
            if !system && explicitSocket == nil { throw invalid("a session URI over ssh needs socket=PATH (the remote user's runtime directory is unknown here)") }
            transport = .ssh(SSHTarget(
                host: host, port: port, user: components.user, keyFile: parameter("keyfile"), verifyHostKey: !noVerify,
                netcat: parameter("netcat") ?? "nc"))
        default:
            throw invalid("unknown transport '\(transportName)' (unix, tls, tcp or ssh)")
        }
        original = uri
        socketPath = explicitSocket ?? defaultSocket
        // As libvirt: an explicit socket is used for read-only connections too.
        readOnlySocketPath = explicitSocket ?? defaultSocket + "-ro"
        var name = openDriver + "://" + path
        if !remaining.isEmpty {
            name += "?" + remaining.map { item in item.value.map { "\(item.name)=\($0)" } ?? item.name }.joined(separator: "&")
        }
        openName = explicitName ?? name
    }

    /// Corral's default URI: `corral:///system` for root, `corral:///session` for other users.
    public static var corralDefault: String { getuid() == 0 ? "corral:///system" : "corral:///session" }
}

/// The client certificate, its key and the CA that signed the server's, where libvirt's client
/// looks for them.
public struct TLSClientFiles: Sendable, Hashable {
    /// The CA certificate the server's certificate must chain to.
    public var certificateAuthority: String
    /// The client's certificate.
    public var certificate: String
    /// The client's private key.
    public var privateKey: String

    /// libvirt's rule: with `pkipath=DIR`, `DIR/cacert.pem`, `DIR/clientcert.pem` and
    /// `DIR/clientkey.pem`; otherwise root uses `/etc/pki/CA/cacert.pem` and
    /// `/etc/pki/libvirt/{clientcert,private/clientkey}.pem`, and other users
    /// `~/.pki/libvirt/{cacert,clientcert,clientkey}.pem`, each (the key and certificate as a
    /// pair) falling back to the system's.
    public init(directory: String?, environment: [String: String]) {
        self.init(directory: directory, environment: environment) { FileManager.default.fileExists(atPath: $0) }
    }

    /// The same rule, with `fileExists` telling which files exist.
    init(directory: String?, environment: [String: String], fileExists: (String) -> Bool) {
        if let directory {
            certificateAuthority = directory + "/cacert.pem"
            certificate = directory + "/clientcert.pem"
            privateKey = directory + "/clientkey.pem"
            return
        }
        let systemCA = "/etc/pki/CA/cacert.pem"
        let systemCertificate = "/etc/pki/libvirt/clientcert.pem"
        let systemKey = "/etc/pki/libvirt/private/clientkey.pem"
        guard getuid() != 0, let home = environment["HOME"] else {
            certificateAuthority = systemCA
            certificate = systemCertificate
            privateKey = systemKey
            return
        }
        let user = home + "/.pki/libvirt"
        certificateAuthority = fileExists(user + "/cacert.pem") ? user + "/cacert.pem" : systemCA
        let userPair = fileExists(user + "/clientcert.pem") && fileExists(user + "/clientkey.pem")
        certificate = userPair ? user + "/clientcert.pem" : systemCertificate
        privateKey = userPair ? user + "/clientkey.pem" : systemKey
    }
}

/// Where and how `ssh` reaches a daemon's host.
public struct SSHTarget: Sendable, Hashable {
    /// The host.
    public var host: String
    /// The SSH port, when not ssh's default.
    public var port: Int?
    /// The user to log in as, when given.
    public var user: String?
    /// The private key (`keyfile=`).
    public var keyFile: String?
    /// Whether ssh checks the host key (`no_verify=1` turns that off).
    public var verifyHostKey: Bool
    /// The netcat command on the host (`netcat=`).
    public var netcat: String
}
