import Foundation
import QEMUCommandLine

/// The settings `corrald.conf` may hold: libvirtd.conf's names for what Corral supports,
/// qemu.conf's for migration (`migration_host`, `migration_port_min`/`max`,
/// `migrate_tls_x509_cert_dir`, `migrate_tls_x509_verify`), SPICE's TLS (`spice_tls`,
/// `spice_tls_x509_cert_dir`), character devices' TLS (`chardev_tls`,
/// `chardev_tls_x509_cert_dir`, `chardev_tls_x509_verify`) and NBD disks' (`nbd_tls`,
/// `nbd_tls_x509_cert_dir`), and
/// `serve_libvirt_sockets` of its own. Any other name stops the daemon with the line named.
public enum DaemonConfigKey: String, Sendable, CaseIterable {
    case listenTLS = "listen_tls"
    case listenTCP = "listen_tcp"
    case tlsPort = "tls_port"
    case tcpPort = "tcp_port"
    case listenAddress = "listen_addr"
    case authTCP = "auth_tcp"
    case authTLS = "auth_tls"
    case caFile = "ca_file"
    case certFile = "cert_file"
    case keyFile = "key_file"
    case crlFile = "crl_file"
    case tlsAllowedDNList = "tls_allowed_dn_list"
    case maxClients = "max_clients"
    case maxClientRequests = "max_client_requests"
    case keepaliveInterval = "keepalive_interval"
    case keepaliveCount = "keepalive_count"
    case unixSocketGroup = "unix_sock_group"
    case unixSocketReadOnlyPermissions = "unix_sock_ro_perms"
    case unixSocketReadWritePermissions = "unix_sock_rw_perms"
    case unixSocketDirectory = "unix_sock_dir"
    case serveLibvirtSockets = "serve_libvirt_sockets"
    case hostUUID = "host_uuid"
    case migrationHost = "migration_host"
    case migrationPortMinimum = "migration_port_min"
    case migrationPortMaximum = "migration_port_max"
    case migrationTLSDirectory = "migrate_tls_x509_cert_dir"
    case migrationTLSVerify = "migrate_tls_x509_verify"
    case spiceTLS = "spice_tls"
    case spiceTLSDirectory = "spice_tls_x509_cert_dir"
    case characterDeviceTLS = "chardev_tls"
    case characterDeviceTLSDirectory = "chardev_tls_x509_cert_dir"
    case characterDeviceTLSVerify = "chardev_tls_x509_verify"
    case networkDiskTLS = "nbd_tls"
    case networkDiskTLSDirectory = "nbd_tls_x509_cert_dir"
}

/// Reads `corrald.conf` (libvirtd.conf's syntax) into a ``DaemonConfiguration``.
public enum DaemonConfigFile {
    /// The file read when `--config` names none (and only if it exists).
    public static let defaultPath = "/etc/corral/corrald.conf"

    /// Reads and applies the file at `path` onto `configuration`.
    public static func load(path: String, into configuration: inout DaemonConfiguration) throws(ConfigFileError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigFileError(file: path, line: 0, reason: "cannot read the file: \((error as NSError).localizedDescription)")
        }
        guard data.count <= ConfigFileSyntax.maximumLength else {
            throw ConfigFileError(file: path, line: 0, reason: "larger than \(ConfigFileSyntax.maximumLength) bytes")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw ConfigFileError(file: path, line: 0, reason: "not UTF-8 text") }
        try apply(ConfigFileSyntax.parse(text, file: path), file: path, to: &configuration)
    }

    /// Applies parsed settings; a later setting of the same name wins, as in libvirt.
    public static func apply(_ entries: [ConfigFileEntry], file: String, to configuration: inout DaemonConfiguration) throws(ConfigFileError) {
        var tlsFilesNamed: [DaemonConfigKey: Int] = [:]
        var migrationPorts: (minimum: (Int, Int)?, maximum: (Int, Int)?) = (nil, nil)
        for entry in entries {
            guard let key = DaemonConfigKey(rawValue: entry.name) else {
                throw ConfigFileError(file: file, line: entry.line, reason: "unknown setting '\(entry.name)'")
            }
            let reader = ValueReader(entry: entry, file: file)
            switch key {
            case .listenTLS: configuration.remoteAccess.listenTLS = try reader.boolean()
            case .listenTCP: configuration.remoteAccess.listenTCP = try reader.boolean()
            case .tlsPort: configuration.remoteAccess.tlsPort = try reader.port()
            case .tcpPort: configuration.remoteAccess.tcpPort = try reader.port()
            case .listenAddress: configuration.remoteAccess.listenAddress = try reader.string(maximumLength: 255)
            case .authTCP: configuration.remoteAccess.tcpAuthentication = try reader.authentication()
            case .authTLS: configuration.remoteAccess.tlsAuthentication = try reader.authentication()
            case .caFile:
                configuration.remoteAccess.tlsFiles.certificateAuthority = try reader.path()
                tlsFilesNamed[key] = entry.line
            case .certFile:
                configuration.remoteAccess.tlsFiles.certificate = try reader.path()
                tlsFilesNamed[key] = entry.line
            case .keyFile:
                configuration.remoteAccess.tlsFiles.privateKey = try reader.path()
                tlsFilesNamed[key] = entry.line
            case .crlFile:
                configuration.remoteAccess.tlsFiles.revocationList = try reader.path()
                configuration.remoteAccess.tlsFiles.revocationListRequired = true
            case .tlsAllowedDNList: configuration.remoteAccess.allowedDistinguishedNames = try reader.stringList()
            case .maxClients: configuration.limits.maximumClients = try reader.integer(in: 1...1_000_000)
            case .maxClientRequests: configuration.limits.maximumRequestsPerClient = try reader.integer(in: 1...1_000_000)
            case .keepaliveInterval:
                let interval = try reader.integer(in: -1...86_400)
                guard interval != 0 else { throw reader.invalid("must be -1 (off) or from 1 to 86400 seconds") }
                configuration.keepalive.interval = interval
            case .keepaliveCount: configuration.keepalive.count = try reader.integer(in: 0...1000)
            case .unixSocketGroup: configuration.unixSockets.group = try reader.group()
            case .unixSocketReadOnlyPermissions: configuration.unixSockets.readOnlyPermissions = try reader.permissions()
            case .unixSocketReadWritePermissions: configuration.unixSockets.readWritePermissions = try reader.permissions()
            case .unixSocketDirectory:
                let directory = try reader.path()
                configuration.socketPath = directory + "/corrald-sock"
                configuration.readOnlySocketPath = directory + "/corrald-sock-ro"
            case .serveLibvirtSockets: configuration.unixSockets.servesLibvirtSockets = try reader.boolean()
            case .hostUUID:
                let text = try reader.string(maximumLength: 64)
                guard UUID(uuidString: text) != nil else { throw reader.invalid("'\(text)' is not a UUID") }
                configuration.hostUUID = text.lowercased()
            case .migrationHost: configuration.migrationHost = try reader.string(maximumLength: 255)
            case .migrationPortMinimum: migrationPorts.minimum = (try reader.integer(in: 1024...65535), entry.line)
            case .migrationPortMaximum: migrationPorts.maximum = (try reader.integer(in: 1024...65535), entry.line)
            case .migrationTLSDirectory: configuration.migrationTLS.directory = try reader.path()
            case .migrationTLSVerify: configuration.migrationTLS.verifyPeer = try reader.boolean()
            case .spiceTLS: configuration.spiceTLS.enabled = try reader.boolean()
            case .spiceTLSDirectory: configuration.spiceTLS.certificateDirectory = try reader.path()
            case .characterDeviceTLS: configuration.characterDeviceTLS.byDefault = try reader.boolean()
            case .characterDeviceTLSDirectory: configuration.characterDeviceTLS.directory = try reader.path()
            case .characterDeviceTLSVerify: configuration.characterDeviceTLS.verifyPeer = try reader.boolean()
            case .networkDiskTLS: configuration.networkDiskTLS.byDefault = try reader.boolean()
            case .networkDiskTLSDirectory: configuration.networkDiskTLS.directory = try reader.path()
            }
        }
        let minimum = migrationPorts.minimum?.0 ?? configuration.migrationPorts.lowerBound
        let maximum = migrationPorts.maximum?.0 ?? configuration.migrationPorts.upperBound
        guard minimum <= maximum else {
            throw ConfigFileError(file: file, line: max(migrationPorts.minimum?.1 ?? 0, migrationPorts.maximum?.1 ?? 0), reason: "migration_port_min must not be above migration_port_max")
        }
        configuration.migrationPorts = minimum...maximum
        // libvirt's rule: naming one of the three x509 files means naming all three.
        if let line = tlsFilesNamed.values.min(), tlsFilesNamed.count < 3 {
            let missing = [DaemonConfigKey.caFile, .certFile, .keyFile].filter { tlsFilesNamed[$0] == nil }.map(\.rawValue)
            throw ConfigFileError(
                file: file, line: line, reason: "ca_file, cert_file and key_file must be set together (missing \(missing.joined(separator: ", ")))")
        }
    }

    /// Reads one setting's value as the type its name calls for, with errors that name the line.
    private struct ValueReader {
        let entry: ConfigFileEntry
        let file: String

        func invalid(_ reason: String) -> ConfigFileError {
            ConfigFileError(file: file, line: entry.line, reason: "\(entry.name): \(reason)")
        }

        func boolean() throws(ConfigFileError) -> Bool {
            guard case .integer(let value) = entry.value, value == 0 || value == 1 else { throw invalid("expected 0 or 1") }
            return value == 1
        }

        func integer(in range: ClosedRange<Int>) throws(ConfigFileError) -> Int {
            guard case .integer(let value) = entry.value else { throw invalid("expected a number") }
            guard value >= Int64(range.lowerBound), value <= Int64(range.upperBound) else {
                throw invalid("\(value) is out of range (\(range.lowerBound) to \(range.upperBound))")
            }
            return Int(value)
        }

        func string(maximumLength: Int = 4096) throws(ConfigFileError) -> String {
            guard case .string(let value) = entry.value else { throw invalid("expected a quoted string") }
            guard !value.isEmpty else { throw invalid("must not be empty") }
            guard value.utf8.count <= maximumLength else { throw invalid("longer than \(maximumLength) bytes") }
            guard !value.utf8.contains(0) else { throw invalid("contains a NUL byte") }
            return value
        }

        func path() throws(ConfigFileError) -> String {
            let value = try string()
            guard value.hasPrefix("/") else { throw invalid("expected an absolute path") }
            return value
        }

        /// A port as libvirt writes it, a quoted number (a bare number is taken too).
        func port() throws(ConfigFileError) -> Int {
            let text: String
            switch entry.value {
            case .string(let value): text = value
            case .integer(let value): text = String(value)
            case .list: throw invalid("expected a port number")
            }
            guard let port = Int(text), (1...65535).contains(port) else { throw invalid("'\(text)' is not a port number from 1 to 65535") }
            return port
        }

        func authentication() throws(ConfigFileError) -> AuthenticationScheme {
            let value = try string()
            guard let scheme = AuthenticationScheme(rawValue: value) else {
                throw invalid("'\(value)' is not supported (none or sasl)")
            }
            return scheme
        }

        func stringList() throws(ConfigFileError) -> [String] {
            switch entry.value {
            case .list(let items):
                var strings: [String] = []
                for item in items {
                    guard case .string(let value) = item else { throw invalid("expected a list of quoted strings") }
                    strings.append(value)
                }
                return strings
            case .string(let value):
                return [value]
            case .integer:
                throw invalid("expected a list of quoted strings")
            }
        }

        /// Octal permissions as a string, as libvirt writes them ("0770").
        func permissions() throws(ConfigFileError) -> UInt32 {
            let text = try string(maximumLength: 8)
            guard let value = UInt32(text, radix: 8), value <= 0o777 else { throw invalid("'\(text)' is not octal permissions (0000 to 0777)") }
            return value
        }

        /// A group name (or number) that exists on this host.
        func group() throws(ConfigFileError) -> String {
            let name = try string(maximumLength: 255)
            guard UnixGroup.id(named: name) != nil else { throw invalid("no group '\(name)' on this host") }
            return name
        }
    }
}

/// Looks up host groups.
enum UnixGroup {
    /// The id of the group `name` (or `name` read as a number), or `nil` when there is none.
    static func id(named name: String) -> gid_t? {
        if let number = UInt32(name) { return number }
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrnam_r(name, &group, &buffer, buffer.count, &result) == 0, let found = result else { return nil }
        return found.pointee.gr_gid
    }
}
