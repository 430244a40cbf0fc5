import CorralJSON
import DomainXML

extension Builder {
    typealias NetworkSource = DomainDefinition.Disk.NetworkSource

    /// The protocol members of a network disk's storage node (after its `driver`), as libvirt's
    /// `qemuBlockStorageSourceGetBackendProps` writes them for each of QEMU's network block
    /// drivers, with `<auth>`'s user and the secret object holding its password or key
    /// (`authSecret`). Cookies travel in a `secret` object, added here before the node.
    mutating func networkStorageMembers(
        _ source: NetworkSource, target: String, storageNode: String, authSecret: String?
    ) throws(CommandLineError) -> [(String, JSONValue)] {
        // QEMU's ssh driver takes a user but no password (it authenticates with ssh-agent).
        let user = source.authentication?.username
        if source.tls == true && source.networkProtocol != .nbd {
            // libvirt's qemuDomainPrepareStorageSourceTLS: only NBD (and VxHS) speak TLS.
            throw CommandLineError(.unsupported, "TLS transport is not supported for disk protocol '\(source.networkProtocol.rawValue)'")
        }
        let driver: [(String, JSONValue)] = [("driver", .string(source.networkProtocol.rawValue))]
        switch source.networkProtocol {
        case .nbd:
            let host = try onlyHost(source)
            var credentials: [(String, JSONValue)] = []
            if context.networkDiskTLS.uses(source.tls) {
                // A client end, always checking the server (libvirt's `obj<node>_tls0`).
                let object = "obj\(storageNode)_tls0"
                addTLSCredentials(id: object, settings: context.networkDiskTLS, listening: false)
                credentials = [("tls-creds", .string(object))]
            }
            return driver + [("server", try socketAddress(host, source))]
                + optional("export", source.name) + credentials + optional("tls-hostname", source.tlsHostname)
        case .http, .https, .ftp, .ftps:
            var members = driver + [("url", .string(try url(source)))] + optional("username", user) + optional("password-secret", authSecret)
            if let verify = source.sslVerify { members.append(("sslverify", .bool(verify))) }
            if !source.cookies.isEmpty {
                let secret = storageNode + "-httpcookie-secret0"
                let cookies = source.cookies.map { "\($0.name)=\($0.value)" }.joined(separator: "; ")
                addSecret(id: secret, value: Array(cookies.utf8))
                members.append(("cookie-secret", .string(secret)))
            }
            if let timeout = source.timeout { members.append(("timeout", .unsigned(timeout))) }
            if let readahead = source.readahead { members.append(("readahead", .unsigned(readahead))) }
            return members
        case .iscsi:
            let host = try onlyHost(source)
            let name = source.name ?? ""
            var iqn = Substring(name), lun: UInt64 = 0
            if let slash = name.firstIndex(of: "/") {
                iqn = name[..<slash]
                guard let value = UInt64(name[name.index(after: slash)...]), value <= UInt64(UInt32.max) else {
                    throw CommandLineError(.unsupported, "cannot parse target for lunStr '\(name)'")
                }
                lun = value
            }
            let hostName = host.name ?? ""
            let portal = (hostName.contains(":") ? "[\(hostName)]" : hostName) + ":\(host.port ?? 0)"
            return driver + [("portal", .string(portal)), ("target", .string(String(iqn))), ("lun", .unsigned(lun)), ("transport", .string("tcp"))]
                + optional("user", user) + optional("password-secret", authSecret) + optional("initiator-name", source.initiatorIQN)
        case .rbd:
            let (pool, image) = Self.splitVolume(source.name ?? "")
            var members = driver + [("pool", .string(pool)), ("image", .string(image))] + optional("snapshot", source.snapshot) + optional("conf", source.configFile)
            if !source.hosts.isEmpty {
                members.append(("server", .array(try source.hosts.map { host throws(CommandLineError) in try inetAddress(host, source) })))
            }
            if let authSecret {
                members += optional("user", user) + [("auth-client-required", .array([.string("cephx"), .string("none")])), ("key-secret", .string(authSecret))]
            }
            return members
        case .ssh:
            let host = try onlyHost(source)
            return driver + [("path", .string(source.name ?? "")), ("server", try inetAddress(host, source))] + optional("user", user)
        case .gluster:
            let (volume, path) = Self.splitVolume(source.name ?? "")
            guard !source.hosts.isEmpty else { throw CommandLineError(.unsupported, "missing remote server specification of disk \(target)") }
            return driver + [("volume", .string(volume)), ("path", .string(path)),
                ("server", .array(try source.hosts.map { host throws(CommandLineError) in try socketAddress(host, source) }))]
        case .nfs:
            let host = try onlyHost(source)
            // `<identity>`: the ids QEMU's NFS client claims (libvirt's qemuDomainPrepareStorageSourceNFS).
            let user = try source.nfsUser.map { name throws(CommandLineError) in try HostIdentity.userID(name) }
            let group = try source.nfsGroup.map { name throws(CommandLineError) in try HostIdentity.groupID(name) }
            return driver + [("server", .object([("host", .string(host.name ?? "")), ("type", .string("inet"))]))] + optional("path", source.name)
                + (user.map { [("user", .unsigned(UInt64($0)))] } ?? []) + (group.map { [("group", .unsigned(UInt64($0)))] } ?? [])
        case .sheepdog, .vxhs, .tftp:
            throw CommandLineError(.unsupported, "protocol '\(source.networkProtocol.rawValue)' of disk \(target) is not supported by this QEMU")
        }
    }

    func optional(_ key: String, _ value: String?) -> [(String, JSONValue)] {
        value.map { [(key, .string($0))] } ?? []
    }

    /// The single server of a protocol that takes one.
    func onlyHost(_ source: NetworkSource) throws(CommandLineError) -> NetworkSource.Host {
        guard source.hosts.count == 1 else {
            throw CommandLineError(.unsupported, "protocol '\(source.networkProtocol.rawValue)' accepts only one host")
        }
        return source.hosts[0]
    }

    /// QEMU's `SocketAddress` of a host: `inet` with the port as a string, or `unix`.
    func socketAddress(_ host: NetworkSource.Host, _ source: NetworkSource) throws(CommandLineError) -> JSONValue {
        switch host.transport {
        case .tcp: .object([("type", .string("inet")), ("host", .string(host.name ?? "")), ("port", .string(String(host.port ?? 0)))])
        case .unix: .object([("type", .string("unix")), ("path", .string(host.socket ?? ""))])
        case .rdma: throw CommandLineError(.unsupported, "transport protocol 'rdma' is not yet supported")
        }
    }

    /// QEMU's `InetSocketAddress` of a host (TCP only).
    func inetAddress(_ host: NetworkSource.Host, _ source: NetworkSource) throws(CommandLineError) -> JSONValue {
        guard host.transport == .tcp else {
            throw CommandLineError(.unsupported, "only TCP protocol can be converted to InetSocketAddress")
        }
        return .object([("host", .string(host.name ?? "")), ("port", .string(String(host.port ?? 0)))])
    }

    /// The URL QEMU's curl driver fetches: `scheme://host:port/path?query`.
    func url(_ source: NetworkSource) throws(CommandLineError) -> String {
        let host = try onlyHost(source)
        guard host.transport == .tcp else {
            throw CommandLineError(.unsupported, "transport '\(host.transport.rawValue)' is not supported with protocol '\(source.networkProtocol.rawValue)'")
        }
        let name = host.name ?? ""
        var url = "\(source.networkProtocol.rawValue)://" + (name.contains(":") ? "[\(name)]" : name)
        if let port = host.port { url += ":\(port)" }
        if let path = source.name { url += (path.hasPrefix("/") ? "" : "/") + Self.percentEncodedPath(path) }
        if let query = source.query { url += "?" + query }
        return url
    }

    /// A URL path with what may not stand in one percent-encoded (RFC 3986's `pchar` and `/`
    /// stay).
    static func percentEncodedPath(_ path: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/%".utf8)
        var encoded = ""
        for byte in path.utf8 {
            if allowed.contains(byte) {
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                encoded += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return encoded
    }

    /// `pool/image` (RBD) or `volume/path` (Gluster), split at the first slash.
    static func splitVolume(_ name: String) -> (String, String) {
        guard let slash = name.firstIndex(of: "/") else { return (name, "") }
        return (String(name[..<slash]), String(name[name.index(after: slash)...]))
    }

    /// A QEMU `tls-creds-x509` object (libvirt's `qemuBuildTLSx509BackendProps`): the x509 files
    /// of `settings`' directory, for a listening (server) or connecting (client) end.
    mutating func addTLSCredentials(id: String, settings: TLSEndpointSettings, listening: Bool) {
        add("-object", json: .object([
            ("qom-type", .string("tls-creds-x509")), ("id", .string(id)), ("dir", .string(settings.directory)),
            ("endpoint", .string(listening ? "server" : "client")), ("verify-peer", .bool(settings.verifyPeer)),
        ]))
    }

    /// A QEMU `secret` object holding `value`: read from a file of the guest's run directory
    /// (mode 0600, written by the daemon before QEMU starts) so it never shows on the command
    /// line, or, for a device plugged into a running guest, sent over the monitor (in base64).
    mutating func addSecret(id: String, value: [UInt8]) {
        if forHotplug {
            add("-object", json: .object([("qom-type", .string("secret")), ("id", .string(id)), ("data", .string(Base64.encode(value))), ("format", .string("base64"))]))
        } else {
            let path = context.runDirectory + "/\(id).secret"
            secretFiles.append(QEMUSecretFile(path: path, contents: value))
            add("-object", json: .object([("qom-type", .string("secret")), ("id", .string(id)), ("file", .string(path)), ("format", .string("raw"))]))
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// Base64 (RFC 4648, with padding), for secrets sent over the monitor; this module does without
/// Foundation.
enum Base64 {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            for position in 0..<4 {
                out.append(position <= chunk.count ? alphabet[Int((value >> (18 - 6 * UInt32(position))) & 63)] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }
}
