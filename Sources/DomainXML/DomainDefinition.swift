/// A domain definition: the parts of libvirt's domain XML that Corral models, as value types.
///
/// It is read from the normalised document (see ``DomainXMLParser``), so defaults are filled in
/// and units converted. Whatever the document holds that is not modelled here is kept in the
/// document itself and listed in ``ParsedDomain/unmodelled``.
public struct DomainDefinition: Hashable, Sendable {
    /// `kvm` or `qemu`.
    public var type: String
    public var name: String
    /// The canonical lower-case UUID.
    public var uuid: String
    public var title: String?
    public var description: String?
    /// Maximum memory in KiB.
    public var memoryKiB: UInt64
    /// Current memory in KiB.
    public var currentMemoryKiB: UInt64
    public var vcpus: Int
    public var os: OperatingSystem
    /// Names of the elements under `<features>` (acpi, apic, pae, …).
    public var features: [String]
    public var cpu: CPU?
    /// `<clock offset>`.
    public var clockOffset: String
    /// `<clock><timer>`s.
    public var timers: [Timer]
    public var onPoweroff: String
    public var onReboot: String
    public var onCrash: String
    public var devices: Devices
    public var qemu: QEMUNamespace

    /// `<os>`.
    public struct OperatingSystem: Hashable, Sendable {
        public var type: String
        public var arch: String
        public var machine: String?
        /// `<boot dev>` in order.
        public var bootDevices: [String]
        public var kernel: String?
        public var initrd: String?
        public var cmdline: String?
        public var loader: Loader?
        public var nvram: String?
    }

    /// `<loader>` (UEFI firmware).
    public struct Loader: Hashable, Sendable {
        public var path: String
        public var readonly: Bool
        public var type: String?
    }

    /// `<cpu>`.
    public struct CPU: Hashable, Sendable {
        public var mode: String?
        public var model: String?
        /// `<topology>`: sockets, dies, cores, threads.
        public var topology: Topology?
    }

    /// `<cpu><topology>`.
    public struct Topology: Hashable, Sendable {
        public var sockets: Int
        public var dies: Int
        public var cores: Int
        public var threads: Int
    }

    /// `<clock><timer>`.
    public struct Timer: Hashable, Sendable {
        public var name: String
        public var tickpolicy: String?
        public var present: Bool?
    }

    /// `<devices>`.
    public struct Devices: Hashable, Sendable {
        public var emulator: String?
        public var disks: [Disk] = []
        public var controllers: [Controller] = []
        public var interfaces: [Interface] = []
        public var serials: [CharacterDevice] = []
        public var consoles: [CharacterDevice] = []
        public var channels: [CharacterDevice] = []
        public var inputs: [Input] = []
        public var graphics: [Graphics] = []
        public var videos: [Video] = []
        public var sounds: [Sound] = []
        public var memballoon: MemoryBalloon?
        public var rngs: [RandomNumberGenerator] = []
        public var watchdogs: [Watchdog] = []

        /// Every user alias (`ua-…`) and libvirt alias given in the XML.
        public var aliases: [String] {
            disks.compactMap(\.alias) + controllers.compactMap(\.alias) + interfaces.compactMap(\.alias) + serials.compactMap(\.alias)
                + consoles.compactMap(\.alias) + channels.compactMap(\.alias) + inputs.compactMap(\.alias) + graphics.compactMap(\.alias)
                + videos.compactMap(\.alias) + sounds.compactMap(\.alias) + [memballoon?.alias].compactMap { $0 } + rngs.compactMap(\.alias)
                + watchdogs.compactMap(\.alias)
        }
    }

    /// `<disk>`.
    public struct Disk: Hashable, Sendable {
        /// `file` or `block`.
        public var type: String
        /// `disk` or `cdrom`.
        public var device: String
        /// `raw` or `qcow2`.
        public var format: String?
        /// The file or block device; `nil` for an empty CD-ROM.
        public var source: String?
        public var targetDevice: String
        /// `virtio`, `sata`, `scsi` or `ide`.
        public var targetBus: String
        public var readonly: Bool
        public var bootOrder: Int?
        public var alias: String?
    }

    /// `<controller>`.
    public struct Controller: Hashable, Sendable {
        public var type: String
        public var index: Int
        public var model: String?
        public var alias: String?
    }

    /// `<interface>`.
    public struct Interface: Hashable, Sendable {
        /// `user`, `network`, `bridge` or `direct`.
        public var type: String
        /// The network, bridge or host device, by type.
        public var source: String?
        /// `<source mode>` for `direct`.
        public var sourceMode: String?
        public var model: String?
        public var mac: String?
        public var bootOrder: Int?
        public var alias: String?
    }

    /// `<serial>`, `<console>` and `<channel>`.
    public struct CharacterDevice: Hashable, Sendable {
        /// `pty`, `file`, `unix`, `tcp`, `null`, …
        public var type: String
        /// `<source path>` for file and unix.
        public var path: String?
        /// `<source mode>` (`bind`/`connect`) for unix and tcp.
        public var mode: String?
        public var host: String?
        public var service: String?
        /// `<target type>` (`isa-serial`, `serial`, `virtio`, …).
        public var targetType: String?
        public var targetPort: Int?
        /// `<target name>` for virtio channels (`org.qemu.guest_agent.0`).
        public var targetName: String?
        public var alias: String?
    }

    /// `<input>`.
    public struct Input: Hashable, Sendable {
        public var type: String
        public var bus: String?
        public var alias: String?
    }

    /// `<graphics>`.
    public struct Graphics: Hashable, Sendable {
        public var type: String
        public var port: Int?
        public var autoport: Bool
        public var listen: String?
        public var alias: String?
    }

    /// `<video>`.
    public struct Video: Hashable, Sendable {
        public var model: String
        public var vram: Int?
        public var heads: Int?
        public var alias: String?
    }

    /// `<sound>`.
    public struct Sound: Hashable, Sendable {
        public var model: String
        public var alias: String?
    }

    /// `<memballoon>`.
    public struct MemoryBalloon: Hashable, Sendable {
        public var model: String
        public var alias: String?
    }

    /// `<rng>`.
    public struct RandomNumberGenerator: Hashable, Sendable {
        public var model: String
        public var backendModel: String
        public var backendPath: String?
        public var alias: String?
    }

    /// `<watchdog>`.
    public struct Watchdog: Hashable, Sendable {
        public var model: String
        public var action: String
        public var alias: String?
    }
}
