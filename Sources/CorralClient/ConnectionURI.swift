import Foundation

/// A libvirt-style connection URI, resolved to the socket to dial and the name to open.
///
/// Understood forms:
/// - `qemu+unix:///system?socket=PATH` (any driver, `/system` or `/session`, an explicit socket);
/// - `qemu:///system` and `qemu:///session`: libvirt's default sockets
///   (`/run/libvirt/libvirt-sock`, `$XDG_RUNTIME_DIR/libvirt/libvirt-sock`);
/// - `corral:///system` and `corral:///session`: corrald's default sockets
///   (`/run/corral/corrald-sock`, `$XDG_RUNTIME_DIR/corral/corrald-sock`), opened as `qemu:///…`.
///
/// As libvirt does, transport parameters (`socket`, `mode`, …) are removed from the query and the
/// rest of the URI, with the driver as its scheme, is the name sent in `CONNECT_OPEN`.
public struct ConnectionURI: Sendable, Hashable, CustomStringConvertible {
    /// The URI as given.
    public var original: String
    /// The socket to connect to.
    public var socketPath: String
    /// The name sent in `CONNECT_OPEN` (for example `qemu:///system`).
    public var openName: String
    /// The socket to connect to for a read-only connection.
    public var readOnlySocketPath: String

    public var description: String { original }

    private static let transportParameters: Set<String> = [
        "socket", "mode", "name", "command", "auth", "no_verify", "no_tty", "proxy", "netcat", "keyfile", "pkipath", "tls_priority",
        "authfile", "known_hosts", "known_hosts_verify", "sshauth",
    ]

    /// Parses `uri`.
    ///
    /// - Throws: ``CorralClientError`` with ``CorralClientError/Code/invalidURI`` for a URI that
    ///   names a remote host, an unknown transport, or a path other than `/system` or `/session`.
    public init(_ uri: String) throws(CorralClientError) {
        try self.init(uri, environment: ProcessInfo.processInfo.environment)
    }

    /// Parses `uri`, resolving default sockets with `environment`.
    public init(_ uri: String, environment: [String: String]) throws(CorralClientError) {
        func invalid(_ why: String) -> CorralClientError {
            CorralClientError(code: .invalidURI, message: "invalid connection URI '\(uri)': \(why)")
        }
        guard let components = URLComponents(string: uri), let scheme = components.scheme?.lowercased() else {
            throw invalid("not a URI")
        }
        let parts = scheme.split(separator: "+", maxSplits: 1).map(String.init)
        let driver = parts[0]
        let transport = parts.count > 1 ? parts[1] : "unix"
        guard transport == "unix" else { throw invalid("only the unix transport is supported") }
        if let host = components.host, !host.isEmpty { throw invalid("remote hosts are not supported") }
        let path = components.path.isEmpty ? "/system" : components.path
        guard path == "/system" || path == "/session" else { throw invalid("the path must be /system or /session") }
        let query = components.queryItems ?? []
        let explicitSocket = query.first { $0.name == "socket" }?.value
        let explicitName = query.first { $0.name == "name" }?.value
        let remaining = query.filter { !Self.transportParameters.contains($0.name) }

        let system = path == "/system"
        let runtime = environment["XDG_RUNTIME_DIR"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.cache")
        let defaultSocket: String
        let openDriver: String
        switch driver {
        case "corral":
            let directory = system && getuid() == 0 ? "/run/corral" : runtime + "/corral"
            defaultSocket = directory + "/corrald-sock"
            openDriver = "qemu"
        default:
            defaultSocket = system ? "/run/libvirt/libvirt-sock" : runtime + "/libvirt/libvirt-sock"
            openDriver = driver
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
