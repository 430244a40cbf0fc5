public import QEMUProbe

/// What the command line depends on beyond the definition: the emulator, the domain's id and its
/// runtime paths.
public struct CommandLineContext: Sendable {
    /// The emulator binary.
    public var emulator: String
    /// Whether KVM can be used.
    public var kvmUsable: Bool
    /// What the emulator reported it can do (its probe), before `qemu:capabilities` changes it.
    public var capabilities: Set<QEMUCapability>
    /// The domain's id.
    public var id: Int32
    /// The domain's runtime directory (`run-dir/domains/NAME`).
    public var runDirectory: String
    /// The VNC display to use for an autoport VNC server (port − 5900).
    public var vncDisplay: Int?
    /// The port for an autoport SPICE server.
    public var spicePort: Int?
    /// The TLS port chosen for a SPICE server whose channels need one (autoport, or `tlsPort='-1'`).
    public var spiceTLSPort: Int?
    /// The directory of SPICE's TLS certificates when SPICE may use TLS (qemu.conf's
    /// `spice_tls` and `spice_tls_x509_cert_dir`); `nil`: no TLS.
    public var spiceTLSDirectory: String?
    /// TLS for TCP character devices (qemu.conf's `chardev_tls` and its x509 settings).
    public var characterDeviceTLS = TLSEndpointSettings()
    /// TLS for NBD disks (qemu.conf's `nbd_tls` and its x509 directory).
    public var networkDiskTLS = TLSEndpointSettings()
    /// The port a VNC WebSocket listener asked for with `websocket='-1'` got (5700 when not set).
    public var vncWebsocketPort: Int?
    /// The virtiofsd the daemon runs for shares that name none (the live XML names it).
    public var virtioFSBinary: String?
    /// Whether the daemon runs as root (`HOME` and `XDG_*` then point into the domain's directory).
    public var privileged: Bool
    /// Variables passed through from the daemon's environment when set (libvirt's list).
    public var passthroughEnvironment: [String: String]
    /// QEMU waits for a migration stream (`-incoming defer`): a restore. The daemon hands it
    /// the stream over the monitor (`migrate-incoming`).
    public var incomingMigration = false
    /// The internal snapshot QEMU loads before the guest runs (`-loadvm NAME`): a revert.
    public var loadSnapshot: String?
    /// The host side the daemon made for interfaces, by their index in the definition: a tap
    /// QEMU opens by name (`-netdev tap,ifname=…`).
    public var interfaceConnections: [Int: InterfaceConnection] = [:]

    /// A guest interface's host side: its tap, and the bridge and network port it is on.
    public struct InterfaceConnection: Hashable, Sendable {
        /// The tap device (`vnet0`), or a `direct` interface's macvtap device (`macvtap0`).
        public var tap: String
        /// The bridge the tap joined, if any.
        public var bridge: String?
        /// The network (`<source network>`) and the port it gave, for `network` interfaces.
        public var network: String?
        public var portID: String?
        /// A `direct` interface's macvtap: the daemon's open descriptors of its tap device (one
        /// per queue), handed to QEMU and then closed.
        public var openDescriptors: [Int32] = []
        /// How QEMU names those descriptors: numbers it inherited at start, or names given with
        /// `getfd` for a hot-plugged interface.
        public var qemuDescriptors: [String] = []
        /// An `ethernet` interface's `<downscript>`, run with the tap's name when it goes.
        public var downscript: String?

        public init(tap: String, bridge: String?, network: String? = nil, portID: String? = nil) {
            self.tap = tap
            self.bridge = bridge
            self.network = network
            self.portID = portID
        }
    }

    /// Whether `/dev/vhost-net` can be opened: virtio NICs of KVM guests on taps then use the
    /// kernel's vhost-net, as libvirt's do.
    public var vhostNetAvailable = false
    /// The secrets disks name (`<auth>`, `<encryption>`), read from the secret driver at start,
    /// by the disk's index in the definition.
    public var diskSecrets: [Int: DiskSecrets] = [:]

    /// A disk's secret values.
    public struct DiskSecrets: Hashable, Sendable {
        /// The password or key of a network disk's `<auth>`.
        public var authentication: [UInt8]?
        /// The passphrase of its `<encryption>`.
        public var encryption: [UInt8]?
        /// The password or key of each network layer's `<auth>` in its described backing chain,
        /// by the layer's position in ``DomainDefinition/Disk/backingChain``.
        public var backingAuthentication: [Int: [UInt8]]
        /// The passphrase of each encrypted layer of its described backing chain, by position.
        public var backingEncryption: [Int: [UInt8]]

        public init(authentication: [UInt8]? = nil, encryption: [UInt8]? = nil, backingAuthentication: [Int: [UInt8]] = [:], backingEncryption: [Int: [UInt8]] = [:]) {
            self.authentication = authentication
            self.encryption = encryption
            self.backingAuthentication = backingAuthentication
            self.backingEncryption = backingEncryption
        }
    }

    /// What the host has of a `<hostdev>`, as the daemon found it before the start.
    public enum HostDeviceBinding: Hashable, Sendable {
        /// The USB device at this bus and device number.
        case usb(bus: Int, device: Int)
        /// A USB device the host lacks, whose `startupPolicy='optional'` lets the guest start
        /// with an empty port that waits for it.
        case usbMissing
        /// A PCI function bound to vfio-pci, ready to be given to the guest.
        case pci
        /// A SCSI device of the host, by its SCSI generic node (`/dev/sg0`).
        case scsiGeneric(String)
        /// An iSCSI LUN, which QEMU reaches itself (with the password of its `<auth>`, if any).
        case iscsi(password: [UInt8]?)
        /// A mediated device the host has (under `/sys/bus/mdev/devices`).
        case mediated
    }

    /// The DRM render node the daemon chose for the OpenGL displays whose XML names none
    /// (libvirt's `virHostGetDRMRenderNode`: the host's first).
    public var renderNode: String?
    /// The guest's vsock as the daemon set it up: its context ID, and the number QEMU gets the
    /// open `/dev/vhost-vsock` as (the daemon passes the descriptor at start).
    public var vsock: (cid: UInt32, descriptor: Int32)?

    /// The bindings of the definition's `<hostdev>` elements, by position.
    public var hostDeviceBindings: [Int: HostDeviceBinding] = [:]

    /// The host's huge page sizes, for `<memoryBacking><hugepages>`.
    public var hugePages = HostHugePages()
    /// The moment the guest starts, for a variable or absolute `<clock>`.
    public var clockReference = ClockReference.current()
    public var qmpSocket: String { runDirectory + "/qmp.sock" }
    public var configFilePath: String { runDirectory + "/qemu.cfg" }
    public var pidFile: String { runDirectory + "/qemu.pid" }
    /// The control socket of the domain's emulated TPM (`swtpm`).
    public var tpmEmulatorSocket: String { runDirectory + "/swtpm.sock" }
    /// The socket of a VNC server that listens on a socket the XML does not name (libvirt's
    /// `vnc.sock` in the domain's directory).
    public var vncSocket: String { Self.vncSocket(runDirectory: runDirectory) }
    /// ``vncSocket`` of the domain whose run directory is `runDirectory`.
    public static func vncSocket(runDirectory: String) -> String { runDirectory + "/vnc.sock" }
    /// The vhost-user socket of the virtiofsd the daemon starts for the virtiofs share `alias`
    /// (libvirt's `ALIAS-fs.sock`).
    public func virtioFSSocket(alias: String) -> String { runDirectory + "/\(alias)-fs.sock" }

    public init(
        emulator: String, capabilities: Set<QEMUCapability>, kvmUsable: Bool, id: Int32, runDirectory: String, vncDisplay: Int? = nil,
        privileged: Bool = true, passthroughEnvironment: [String: String] = [:]
    ) {
        self.emulator = emulator
        self.kvmUsable = kvmUsable
        self.capabilities = capabilities
        self.id = id
        self.runDirectory = runDirectory
        self.vncDisplay = vncDisplay
        self.privileged = privileged
        self.passthroughEnvironment = passthroughEnvironment
    }
}

/// The huge page sizes the host's kernel offers (`/sys/kernel/mm/hugepages`), its default one
/// (`Hugepagesize` in `/proc/meminfo`) and its base page size, in KiB.
public struct HostHugePages: Sendable, Hashable {
    public var sizesKiB: Set<UInt64>
    public var defaultSizeKiB: UInt64?
    public var systemPageSizeKiB: UInt64

    public init(sizesKiB: Set<UInt64> = [], defaultSizeKiB: UInt64? = nil, systemPageSizeKiB: UInt64 = 4) {
        self.sizesKiB = sizesKiB
        self.defaultSizeKiB = defaultSizeKiB
        self.systemPageSizeKiB = systemPageSizeKiB
    }
}
