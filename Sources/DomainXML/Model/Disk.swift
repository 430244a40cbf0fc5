import XMLTree

extension DomainDefinition {
    /// `<disk>`.
    public struct Disk: Hashable, Sendable, ModelledElement {
        /// `<disk type>` (libvirt's storage types).
        public enum SourceType: String, ModelledValue {
            case file, block, dir, network, volume, nvme, vhostuser
        }

        /// `<disk device>`.
        public enum Device: String, ModelledValue {
            case disk, cdrom, floppy, lun
        }

        /// `<target bus>`.
        public enum Bus: String, ModelledValue {
            case ide, fdc, scsi, virtio, xen, usb, uml, sata, sd
        }

        /// `<driver cache>`.
        public enum CacheMode: String, ModelledValue {
            case `default`, none, writethrough, writeback, directsync, unsafe

            /// QEMU's cache flags for the mode (libvirt's mapping): whether the guest sees a
            /// write cache, whether I/O bypasses the host's page cache, whether flushes are
            /// ignored; `nil` for `default` (QEMU's own defaults).
            public var flags: (writeback: Bool, direct: Bool, noFlush: Bool)? {
                switch self {
                case .default: nil
                case .none: (true, true, false)
                case .writethrough: (false, false, false)
                case .writeback: (true, false, false)
                case .directsync: (false, true, false)
                case .unsafe: (true, false, true)
                }
            }
        }

        /// `<driver discard>`: whether the guest's discards reach the image.
        public enum DiscardMode: String, ModelledValue {
            case unmap, ignore
        }

        /// `<driver io>`: how QEMU submits the image's I/O (its `aio`).
        public enum IOMode: String, ModelledValue {
            case threads, native, ioUring = "io_uring"
        }

        /// `<driver detect_zeroes>`.
        public enum DetectZeroes: String, ModelledValue {
            case off, on, unmap
        }

        /// `<geometry trans>`: the BIOS's CHS translation of an IDE disk.
        public enum GeometryTranslation: String, ModelledValue {
            case none, auto, lba
        }

        /// `<geometry cyls heads secs trans>`: the disk's CHS geometry as the guest sees it.
        public struct Geometry: Hashable, Sendable {
            public var cylinders: UInt32
            public var heads: UInt32
            public var sectors: UInt32
            public var translation: GeometryTranslation?
        }

        /// `<driver error_policy>` and `rerror_policy`: what a failed write (read) does.
        public enum ErrorPolicy: String, ModelledValue {
            case stop, report, ignore, enospace
        }

        public var type: SourceType
        public var device: Device
        /// `<driver io>`, `detect_zeroes`, `error_policy`, `rerror_policy`.
        public var io: IOMode?
        public var detectZeroes: DetectZeroes?
        public var errorPolicy: ErrorPolicy?
        public var readErrorPolicy: ErrorPolicy?
        /// `<serial>`, `<wwn>` (16 hex digits), `<vendor>`, `<product>`: what the guest reads
        /// from the disk's identity.
        public var serial: String?
        public var wwn: UInt64?
        public var vendor: String?
        public var product: String?
        /// `<address type='drive'>` of a disk on an IDE, SATA, SCSI or floppy controller
        /// (written at define from the target).
        public var driveAddress: DriveAddress?
        /// `<driver discard>`; `nil`: QEMU's default (ignore).
        public var discard: DiscardMode?
        /// `<driver type>`: the image format (`raw`, `qcow2`, …).
        public var format: String?
        public var cache: CacheMode?
        /// `<driver iothread>`: the I/O thread (by id) a virtio disk's requests run in.
        public var ioThread: Int?
        /// `<driver iommu ats packed page_per_vq>` of a virtio disk.
        public var virtio = VirtioOptions()
        /// The file or block device; `nil` for an empty CD-ROM (and, until resolved at start,
        /// for a `volume` disk).
        public var source: String?
        /// The `<source>` of a `network` disk: protocol, servers and options.
        public var network: NetworkSource?
        /// `<encryption>` (in `<source>`, or in `<disk>` as older XML has it).
        public var encryption: Encryption?
        /// `<source pool>` of a `volume` disk: the storage pool.
        public var sourcePool: String?
        /// `<source volume>` of a `volume` disk: the volume's name in its pool.
        public var sourceVolume: String?
        /// `<source index>`: the number of the disk's block nodes in a running guest
        /// (`libvirt-N-format`), kept only in live documents (``DomainXMLOptions/keepsLiveState``).
        public var sourceIndex: UInt32?
        public var targetDevice: String
        public var targetBus: Bus
        public var readonly: Bool
        /// `<shareable/>`: other guests may write the same image at the same time.
        public var shareable: Bool
        /// `<transient/>`: the guest's writes go to an overlay made at start and deleted when the
        /// guest stops, so the image is as it was after every run.
        public var transient = false
        /// `<transient shareBacking='yes'/>`: the image is opened read-only, so several guests
        /// may start from it at once.
        public var transientSharesBacking = false
        /// The backing chain the XML describes below the image, top down (``BackingStore``).
        public var backingChain: [BackingStore] = []
        /// The chain described (the image alone, or with ``backingChain``) ends with an empty
        /// `<backingStore/>`: QEMU opens no backing file below it.
        public var endsChain = false
        public var bootOrder: Int?
        /// `<iotune>`.
        public var ioTune: IOTune?
        /// `<blockio logical_block_size physical_block_size>` (bytes; `nil`: QEMU's default).
        public var logicalBlockSize: UInt32?
        public var physicalBlockSize: UInt32?
        /// `<geometry>`, when it gives all three of cylinders, heads and sectors.
        public var geometry: Geometry?
        public var alias: String?
        /// `<acpi index>` (a PCI device's; QEMU's `acpi-index`).
        public var acpiIndex: UInt32?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?
        /// `<address type='usb'>` of a USB disk (written at define).
        public var usbAddress: USBAddress?
        /// `<target removable>` of a USB disk: whether the guest sees removable media
        /// (`nil`: not given; libvirt then tells QEMU it is not).
        public var removable: Bool?
        /// `<disk model>`: a virtio disk's device variant (transitional or not).
        public var model: VirtioModel?
        /// `<driver copy_on_read>`: whether what the guest reads from the backing chain is
        /// copied into the image (QEMU's `copy-on-read` node above the format node).
        public var copyOnRead: Bool?
        /// `<driver><metadata_cache><max_size>`: the bytes of qcow2 metadata QEMU caches.
        public var metadataCacheBytes: UInt64?
        /// `<source><slices>`: the part of the file or device the image occupies.
        public var slice: StorageSlice?
        /// The security models the `<seclabel>`s of the source (and of a described backing
        /// chain's sources) name.
        public var securityLabelModels: [String] = []
        /// `<source startupPolicy>`: what a start does when the source is missing (nil: fail).
        public var startupPolicy: StartupPolicy?
        /// `<target tray>` of a CD-ROM or floppy drive: whether its tray is open (a running
        /// guest's live XML follows QEMU's tray events; libvirt writes only `open`).
        public var trayOpen = false
        /// `<driver queues>`: a virtio disk's queues (QEMU's `num-queues`).
        public var queues: UInt32?
        /// `<driver queue_size>`: entries per virtqueue of a virtio disk (`queue-size`).
        public var queueSize: UInt32?
        /// `<driver ioeventfd>` and `event_idx` of a virtio disk: on, off or QEMU's default.
        public var ioEventFD: Bool?
        public var eventIndex: Bool?
        /// `<target rotation_rate>`: the RPM a SCSI, IDE or SATA disk reports (1: a solid-state
        /// disk).
        public var rotationRate: UInt32?
        /// A `vhostuser` disk's backend.
        public var vhostUser: VhostUserSource?
        /// An `nvme` disk's source: a namespace of the host's NVMe controller, which QEMU's
        /// userspace NVMe driver drives through VFIO.
        public var nvme: NVMeSource?

        /// `<source type='pci' managed namespace><address …/>` of an `nvme` disk.
        public struct NVMeSource: Hashable, Sendable {
            /// The controller's PCI address on the host.
            public var controller: PCIAddress
            public var namespace: UInt64
            /// `managed`: whether its host driver is to be swapped for vfio-pci (`nil`: not said).
            public var managed: Bool?
        }
        /// `<disk snapshot>`: how the disk takes part in a snapshot that does not say (`no` for
        /// a vhost-user disk, written at define); `nil`: the snapshot's default.
        public var snapshotLocation: DomainSnapshot.Location?

        /// A vhost-user-blk server (SPDK, `qemu-storage-daemon`) QEMU connects to.
        public struct VhostUserSource: Hashable, Sendable {
            /// Its Unix socket.
            public var path: String
            /// `<reconnect enabled='yes' timeout>`: the seconds QEMU waits before connecting again
            /// to a server that went away.
            public var reconnectSeconds: UInt32?
        }

        static let schema = ElementSchema("disk", attributes: ["type", "device", "snapshot", "model"], children: [
            ElementSchema("driver", attributes: ["name", "type", "cache", "discard", "iothread", "io", "detect_zeroes", "error_policy", "rerror_policy", "queues", "queue_size", "ioeventfd", "event_idx", "copy_on_read"] + VirtioOptions.attributes, children: [MetadataCache.schema]),
            .text("serial"), .text("wwn"), .text("vendor"), .text("product"), ElementSchema("source", attributes: ["file", "dev", "pool", "volume", "index", "type", "path", "startupPolicy", "namespace", "managed"] + NetworkSource.schema.attributes, children: NetworkSource.schema.children + [Encryption.schema, ElementSchema("reconnect", attributes: ["enabled", "timeout"]), StorageSlice.schema, DeviceSecurityLabel.schema, ElementSchema("address", attributes: ["domain", "bus", "slot", "function"])]),
            Encryption.schema, ElementSchema("auth", attributes: ["username"], children: [ElementSchema("secret", attributes: ["type", "usage", "uuid"])]),
            ElementSchema("blockio", attributes: ["logical_block_size", "physical_block_size"]),
            ElementSchema("geometry", attributes: ["cyls", "heads", "secs", "trans"]),
            ElementSchema("target", attributes: ["dev", "bus", "tray", "removable", "rotation_rate"]), .text("readonly"), .text("shareable"),
            ElementSchema("transient", attributes: ["shareBacking"]), .boot, .alias, .acpi, .address, IOTune.schema,
            BackingStore.schema,
        ])

        /// An NVMe disk's source, with libvirt's checks and words (`virDomainDiskSourceNVMeParse`).
        static func nvmeSource(_ source: XMLElement) throws(DomainXMLError) -> NVMeSource {
            guard let type = source[attribute: "type"] else { throw DomainXMLError(.invalid, line: source.line, "missing 'type' attribute to disk source") }
            guard type == "pci" else { throw DomainXMLError(.invalid, line: source.line, "unsupported source type '\(type)'") }
            guard let text = source[attribute: "namespace"] else { throw DomainXMLError(.invalid, line: source.line, "missing 'namespace' attribute to disk source") }
            guard let namespace = UInt64(text) else { throw DomainXMLError(.invalid, line: source.line, "malformed namespace '\(text)'") }
            let managed = try AttributeValues.yesNo("managed", of: source)
            guard var address = source.element(named: "address") else { throw DomainXMLError(.invalid, line: source.line, "NVMe disk source is missing address") }
            address[attribute: "type"] = "pci"
            guard let controller = try PCIAddress(device: XMLElement(name: "source", children: [.element(address)])) else {
                throw DomainXMLError(.invalid, line: source.line, "NVMe disk source is missing address")
            }
            return NVMeSource(controller: controller, namespace: namespace, managed: managed)
        }

        /// Reads a normalised `<disk>` (its bus is filled in from the target's prefix).
        init(_ element: XMLElement) throws(DomainXMLError) {
            let source = element.element(named: "source"), target = element.element(named: "target")
            type = try SourceType.attribute("type", of: element, default: .file)
            device = try Device.attribute("device", of: element, default: .disk)
            format = element.element(named: "driver")?[attribute: "type"]
            cache = try CacheMode.optionalAttribute("cache", of: element.element(named: "driver"))
            discard = try DiscardMode.optionalAttribute("discard", of: element.element(named: "driver"))
            let driver = element.element(named: "driver")
            io = try IOMode.optionalAttribute("io", of: driver)
            detectZeroes = try DetectZeroes.optionalAttribute("detect_zeroes", of: driver)
            errorPolicy = try ErrorPolicy.optionalAttribute("error_policy", of: driver)
            readErrorPolicy = try ErrorPolicy.optionalAttribute("rerror_policy", of: driver)
            if readErrorPolicy == .enospace { throw DomainXMLError(.invalid, line: driver?.line, "Invalid value for attribute 'rerror_policy' in element 'driver': 'enospace'.") }
            // libvirt's limits on the identity strings: serial 20+ printable, vendor 8, product 16.
            serial = try Self.identity(element, "serial", maximum: 4096)
            vendor = try Self.identity(element, "vendor", maximum: 8)
            product = try Self.identity(element, "product", maximum: 16)
            if let text = element.element(named: "wwn")?.text {
                // libvirt's virValidateWWN: sixteen hexadecimal digits, optionally after `0x`.
                let digits = text.hasPrefix("0x") ? String(text.dropFirst(2)) : text
                guard digits.count == 16, let value = UInt64(digits, radix: 16) else {
                    throw DomainXMLError(.invalid, line: element.line, "Malformed wwn: \(text)")
                }
                wwn = value
            }
            if let text = element.element(named: "driver")?[attribute: "iothread"] {
                guard let id = Int(text), (1...DomainLimits.maximumIOThreads).contains(id) else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid iothread attribute in disk driver element: \(text)")
                }
                ioThread = id
            }
            self.source = type == .network ? nil : source?[attribute: "file"] ?? source?[attribute: "dev"]
            if type == .network, let source { network = try NetworkSource(source) }
            if let auth = element.element(named: "auth") {
                // The older place of <auth>, a child of <disk> (libvirt reads it as the source's,
                // and writes it back where it was).
                if network?.authentication != nil {
                    throw DomainXMLError(.unsupported, line: auth.line, "an <auth> definition already found for disk source")
                }
                if let networkProtocol = network?.networkProtocol {
                    network?.authentication = try NetworkSource.authentication(auth, networkProtocol)
                }
            }
            if type == .vhostuser { vhostUser = try Self.vhostUserSource(source, line: element.line) }
            if type == .nvme, let source { nvme = try Self.nvmeSource(source) }
            func count(_ name: String, of element: XMLElement?) throws(DomainXMLError) -> UInt32? {
                guard let element, let text = element[attribute: name] else { return nil }
                guard let value = AttributeValues.libvirtUInt32(text) else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute '\(name)' in element '\(element.name)': '\(text)'. Expected non-negative integer value")
                }
                return value == 0 ? nil : value
            }
            queues = try count("queues", of: driver)
            queueSize = try count("queue_size", of: driver)
            ioEventFD = try AttributeValues.onOff("ioeventfd", of: driver)
            eventIndex = try AttributeValues.onOff("event_idx", of: driver)
            rotationRate = try count("rotation_rate", of: target)
            if let text = element[attribute: "snapshot"] {
                guard let location = DomainSnapshot.Location(rawValue: text) else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute 'snapshot' in element 'disk': '\(text)'.")
                }
                snapshotLocation = location
            }
            let encryptions = [source?.element(named: "encryption"), element.element(named: "encryption")].compactMap { $0 }
            if encryptions.count > 1 {
                throw DomainXMLError(.invalid, line: element.line, "an <encryption> definition already found for disk source")
            }
            encryption = try encryptions.first.map { encryption throws(DomainXMLError) in try Encryption(encryption) }
            if let encryption, encryption.engine == .qemu, encryption.format == .luks2 {
                throw DomainXMLError(.unsupported, line: element.line, "luks2 is currently not supported by the qemu encryption engine")
            }
            sourcePool = source?[attribute: "pool"]
            sourceVolume = source?[attribute: "volume"]
            sourceIndex = source?[attribute: "index"].flatMap { UInt32($0) }
            if type == .volume, sourcePool == nil || sourceVolume == nil {
                throw DomainXMLError(.invalid, line: element.line, "missing source pool or volume for disk of type 'volume'")
            }
            targetDevice = target?[attribute: "dev"] ?? ""
            targetBus = try Bus.attribute("bus", of: target, default: .virtio)
            virtio = try VirtioOptions(driver)
            if targetBus != .virtio { try virtio.checkAbsent(line: driver?.line) }
            readonly = element.element(named: "readonly") != nil
            shareable = element.element(named: "shareable") != nil
            (backingChain, endsChain) = try BackingStore.chain(of: element)
            if let transientElement = element.element(named: "transient") {
                transient = true
                transientSharesBacking = try AttributeValues.yesNo("shareBacking", of: transientElement) ?? false
            }
            // libvirt's define-time checks of the two flags.
            if readonly && device == .disk && (targetBus == .ide || targetBus == .sata) {
                throw DomainXMLError(.unsupported, line: element.line, "readonly \(targetBus.rawValue) disks are not supported")
            }
            if shareable && !readonly && (format ?? "raw") != "raw" && type != .volume {
                throw DomainXMLError(.unsupported, line: element.line, "shared access for disk '\(targetDevice)' requires use of supported storage format")
            }
            if let blockio = element.element(named: "blockio") {
                logicalBlockSize = try Self.positiveSize(blockio, "logical_block_size")
                physicalBlockSize = try Self.positiveSize(blockio, "physical_block_size")
            }
            if let geometry = element.element(named: "geometry") {
                let translation = try GeometryTranslation.optionalAttribute("trans", of: geometry)
                if let cylinders = try Self.positiveSize(geometry, "cyls"), let heads = try Self.positiveSize(geometry, "heads"),
                    let sectors = try Self.positiveSize(geometry, "secs") {
                    self.geometry = Geometry(cylinders: cylinders, heads: heads, sectors: sectors, translation: translation)
                    // The QEMU driver's checks of a whole geometry (qemuValidateDomainDeviceDefDiskFrontend).
                    if targetBus == .usb || targetBus == .sd {
                        throw DomainXMLError(.unsupported, line: geometry.line, "CHS geometry can not be set for '\(targetBus.rawValue)' bus")
                    }
                    if translation != nil && targetBus != .ide {
                        throw DomainXMLError(.unsupported, line: geometry.line, "CHS translation mode can only be set for 'ide' bus not '\(targetBus.rawValue)'")
                    }
                }
            }
            bootOrder = DeviceCommon.bootOrder(element)
            ioTune = try element.element(named: "iotune").map { tune throws(DomainXMLError) in try IOTune(tune) }
            alias = DeviceCommon.alias(element)
            acpiIndex = try DeviceCommon.acpiIndex(element)
            pciAddress = try PCIAddress(device: element)
            driveAddress = try DriveAddress(device: element)
            usbAddress = DeviceCommon.usbAddress(element)
            removable = try AttributeValues.onOff("removable", of: target)
            trayOpen = try Tray.optionalAttribute("tray", of: target) == .open
            startupPolicy = try StartupPolicy.optionalAttribute("startupPolicy", of: source)
            slice = try StorageSlice.storageSlice(of: source)
            securityLabelModels = DeviceSecurityLabel.models(of: source) + backingChain.flatMap(\.securityLabelModels)
            copyOnRead = try AttributeValues.onOff("copy_on_read", of: driver)
            metadataCacheBytes = try MetadataCache.maximumBytes(in: driver, path: "./metadata_cache/max_size")
            model = try VirtioModel.optionalAttribute("model", of: element)
        }

        /// `<source startupPolicy>` (libvirt's `virDomainStartupPolicy`).
        public enum StartupPolicy: String, ModelledValue {
            /// The start fails (as without a policy).
            case mandatory
            /// A fresh start fails; a restore or an incoming migration goes on without the medium.
            case requisite
            /// The start goes on without the medium (a disk that is no CD-ROM or floppy: without
            /// the disk, and only on a fresh start).
            case optional
        }

        /// `<target tray>`.
        enum Tray: String, ModelledValue {
            case open, closed
        }
    }
}

extension DomainDefinition.Disk {
    /// Whether the disk has a medium: an image file, a block device or a network source (an
    /// empty CD-ROM has none).
    public var hasMedium: Bool { source != nil || network != nil || nvme != nil }

    /// Where a `<transient/>` disk's overlay is made for a guest named `domainName`: next to the
    /// image, `IMAGE.TRANSIENT-DOMAIN` (libvirt's name); `nil` for any other disk.
    public func transientOverlayPath(domainName: String) -> String? {
        guard transient, let source else { return nil }
        return source + ".TRANSIENT-" + domainName
    }

    /// Where a SCSI disk sits: its drive address, or libvirt's from its target (for a
    /// definition stored without one).
    public var scsiAddress: DomainDefinition.DriveAddress {
        driveAddress ?? .scsi(targetIndex: DiskTarget.index(of: targetDevice) ?? 0)
    }

    /// An unsigned 32-bit attribute of `element`; `nil` when absent or zero (libvirt's unset).
    static func positiveSize(_ element: XMLElement, _ attribute: String) throws(DomainXMLError) -> UInt32? {
        guard let text = element[attribute: attribute] else { return nil }
        guard let value = UInt32(text) else {
            throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute '\(attribute)' in element '\(element.name)': '\(text)'. Expected non-negative integer value")
        }
        return value == 0 ? nil : value
    }

    /// The text of an identity child (`serial`, `vendor`, `product`): printable ASCII of at most
    /// `maximum` characters, as libvirt accepts it.
    static func identity(_ element: XMLElement, _ name: String, maximum: Int) throws(DomainXMLError) -> String? {
        guard let child = element.element(named: name) else { return nil }
        let text = child.text
        guard !text.isEmpty, text.count <= maximum, text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7f }) else {
            throw DomainXMLError(.invalid, line: child.line, "disk \(name) '\(text)' must be 1 to \(maximum) printable ASCII characters")
        }
        return text
    }
}

extension DomainDefinition.Disk {
    /// A `vhostuser` disk's `<source type='unix' path>` with its `<reconnect>`, read as libvirt
    /// reads it (`virDomainDiskSourceVHostUserParse`), with its messages.
    static func vhostUserSource(_ source: XMLElement?, line: Int) throws(DomainXMLError) -> VhostUserSource {
        guard let type = source?[attribute: "type"] else {
            throw DomainXMLError(.invalid, line: source?.line ?? line, "missing 'type' attribute for vhostuser disk source")
        }
        guard type == "unix" else { throw DomainXMLError(.invalid, line: source?.line ?? line, "invalid 'type' attribute for vhostuser disk source") }
        guard let source, let path = source[attribute: "path"] else {
            throw DomainXMLError(.invalid, line: source?.line ?? line, "missing 'path' attribute for vhostuser disk source")
        }
        return VhostUserSource(path: path, reconnectSeconds: try AttributeValues.reconnect(of: source)?.seconds)
    }
}
