import Foundation
public import QEMUCommandLine

/// Where `corrald` listens and keeps its files.
///
/// Defaults follow DESIGN.md: for root, `/run/corral` and `/var/lib/corral`; for other users,
/// `$XDG_RUNTIME_DIR/corral` and `$XDG_DATA_HOME/corral` (falling back to `~/.local/share`).
public struct DaemonConfiguration: Sendable {
    /// The read-write socket.
    public var socketPath: String
    /// The read-only socket.
    public var readOnlySocketPath: String
    /// Persistent definitions live here.
    public var stateDirectory: String
    /// Status files, monitor sockets and logs live here.
    public var runDirectory: String
    /// The QEMU binary.
    public var emulatorPath: String
    /// The QEMU binary of 32-bit x86 guests (`arch='i686'`): given (`--emulator-i686`,
    /// `CORRAL_EMULATOR_I686`; empty for none), else `qemu-system-i386` beside a
    /// `qemu-system-x86_64` ``emulatorPath`` when it is there, as libvirt finds it.
    public var i686EmulatorPath: String? {
        get {
            if let i686EmulatorOverride { return i686EmulatorOverride.isEmpty ? nil : i686EmulatorOverride }
            guard emulatorPath.hasSuffix("qemu-system-x86_64") else { return nil }
            let sibling = String(emulatorPath.dropLast("x86_64".count)) + "i386"
            return FileManager.default.isExecutableFile(atPath: sibling) ? sibling : nil
        }
        set { i686EmulatorOverride = newValue ?? "" }
    }
    /// ``i686EmulatorPath`` as given (`""`: none), when given.
    public var i686EmulatorOverride: String?
    /// The largest packet accepted from a client, length word included.
    public var maximumPacketLength: Int = 4 + 33_554_432
    /// Bounds on clients and their calls.
    public var limits = ConnectionLimits()
    /// The network listeners (TLS, TCP), off unless asked for.
    public var remoteAccess = RemoteAccess()
    /// Ownership and permissions of the Unix sockets.
    public var unixSockets = UnixSocketAccess()
    /// Keepalive towards clients.
    public var keepalive = KeepaliveSettings()
    /// This host's UUID as the daemon reports it (`host_uuid`); the machine's own when `nil`.
    /// Two daemons on one machine (tests) need different ones to migrate between them.
    public var hostUUID: String?
    /// The host name or address a destination gives the source's QEMU to send a migration to
    /// (`migration_host`); else the address the migration's client reached this daemon at, else
    /// the host name.
    public var migrationHost: String?
    /// The ports incoming migrations listen on (`migration_port_min`, `migration_port_max`).
    public var migrationPorts: ClosedRange<Int> = 49152...49215
    /// SPICE over TLS (qemu.conf's `spice_tls`, `spice_tls_x509_cert_dir`).
    public var spiceTLS = SpiceTLSSettings()
    /// QEMU's own TLS for migration streams (`virsh migrate --tls`).
    public var migrationTLS = MigrationTLSSettings()
    /// TLS for TCP character devices (qemu.conf's `chardev_tls`, `chardev_tls_x509_cert_dir`,
    /// `chardev_tls_x509_verify`): off unless a device says `tls='yes'`.
    public var characterDeviceTLS = TLSEndpointSettings(directory: Self.defaultTLSDirectory("chardev"))
    /// TLS for NBD disks (qemu.conf's `nbd_tls`, `nbd_tls_x509_cert_dir`).
    public var networkDiskTLS = TLSEndpointSettings(directory: Self.defaultTLSDirectory("nbd"))

    /// libvirt's default x509 directory of one kind of endpoint: `/etc/pki/libvirt-KIND` when
    /// it exists, else `/etc/pki/qemu`.
    public static func defaultTLSDirectory(_ kind: String) -> String {
        let own = "/etc/pki/libvirt-" + kind
        return FileManager.default.fileExists(atPath: own) ? own : "/etc/pki/qemu"
    }
    /// Listening sockets handed over by systemd (`LISTEN_FDS`), used instead of binding.
    public var activatedSockets: [ActivatedSocket] = []
    /// Whether a daemon with no networks defines and starts libvirt's `default` NAT network
    /// (`virbr0`, 192.168.122.0/24 or the next free /24), as libvirt's packaging does. Tests that
    /// must not touch the host's network turn it off (`--no-default-network`).
    public var createsDefaultNetwork = true

    /// Creates a configuration from explicit paths.
    public init(socketPath: String, readOnlySocketPath: String, stateDirectory: String, runDirectory: String, emulatorPath: String) {
        self.socketPath = socketPath
        self.readOnlySocketPath = readOnlySocketPath
        self.stateDirectory = stateDirectory
        self.runDirectory = runDirectory
        self.emulatorPath = emulatorPath
    }

    /// The defaults for the current user.
    public static func defaults() -> DaemonConfiguration {
        defaults(environment: ProcessInfo.processInfo.environment)
    }

    /// The defaults for the current user, given its environment.
    public static func defaults(environment: [String: String]) -> DaemonConfiguration {
        let paths = DefaultPaths(environment: environment)
        var configuration = DaemonConfiguration(
            socketPath: paths.socket,
            readOnlySocketPath: paths.readOnlySocket,
            stateDirectory: paths.stateDirectory,
            runDirectory: paths.runDirectory,
            emulatorPath: paths.emulator
        )
        configuration.i686EmulatorOverride = environment["CORRAL_EMULATOR_I686"]
        return configuration
    }
}

/// Corral's default locations, shared by the daemon and (through the same rules) the client.
public struct DefaultPaths: Sendable {
    /// The run directory (sockets, status files).
    public var runDirectory: String
    /// The state directory (definitions).
    public var stateDirectory: String
    /// The default QEMU binary.
    public var emulator: String

    /// The read-write socket inside ``runDirectory``.
    public var socket: String { runDirectory + "/corrald-sock" }
    /// The read-only socket inside ``runDirectory``.
    public var readOnlySocket: String { runDirectory + "/corrald-sock-ro" }

    /// Works the defaults out for the current user.
    public init(environment: [String: String]) {
        if getuid() == 0 {
            runDirectory = "/run/corral"
            stateDirectory = "/var/lib/corral"
        } else {
            let home = environment["HOME"] ?? NSHomeDirectory()
            runDirectory = (environment["XDG_RUNTIME_DIR"] ?? (home + "/.cache")) + "/corral"
            stateDirectory = (environment["XDG_DATA_HOME"] ?? (home + "/.local/share")) + "/corral"
        }
        emulator = environment["CORRAL_EMULATOR"] ?? "/usr/bin/qemu-system-x86_64"
    }
}

/// Whether SPICE servers may listen with TLS, and their certificates (`ca-cert.pem`,
/// `server-cert.pem`, `server-key.pem`), as qemu.conf says them.
public struct SpiceTLSSettings: Sendable {
    /// `spice_tls`: off, as libvirt's default.
    public var enabled = false
    /// `spice_tls_x509_cert_dir`, libvirt's default.
    public var certificateDirectory = "/etc/pki/libvirt-spice"

    public init() {}
}
