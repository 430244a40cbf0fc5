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

        public var type: SourceType
        public var device: Device
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
        /// The file or block device; `nil` for an empty CD-ROM (and, until resolved at start,
        /// for a `volume` disk).
        public var source: String?
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
        public var bootOrder: Int?
        /// `<iotune>`.
        public var ioTune: IOTune?
        public var alias: String?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?

        static let schema = ElementSchema("disk", attributes: ["type", "device"], children: [
            ElementSchema("driver", attributes: ["name", "type", "cache", "discard", "iothread"]), ElementSchema("source", attributes: ["file", "dev", "pool", "volume", "index"]),
            ElementSchema("target", attributes: ["dev", "bus"]), .text("readonly"), .text("shareable"), .boot, .alias, .address, IOTune.schema,
        ])

        /// Reads a normalised `<disk>` (its bus is filled in from the target's prefix).
        init(_ element: XMLElement) throws(DomainXMLError) {
            let source = element.element(named: "source"), target = element.element(named: "target")
            type = try SourceType.attribute("type", of: element, default: .file)
            device = try Device.attribute("device", of: element, default: .disk)
            format = element.element(named: "driver")?[attribute: "type"]
            cache = try CacheMode.optionalAttribute("cache", of: element.element(named: "driver"))
            discard = try DiscardMode.optionalAttribute("discard", of: element.element(named: "driver"))
            if let text = element.element(named: "driver")?[attribute: "iothread"] {
                guard let id = Int(text), (1...DomainLimits.maximumIOThreads).contains(id) else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid iothread attribute in disk driver element: \(text)")
                }
                ioThread = id
            }
            self.source = source?[attribute: "file"] ?? source?[attribute: "dev"]
            sourcePool = source?[attribute: "pool"]
            sourceVolume = source?[attribute: "volume"]
            sourceIndex = source?[attribute: "index"].flatMap { UInt32($0) }
            if type == .volume, sourcePool == nil || sourceVolume == nil {
                throw DomainXMLError(.invalid, line: element.line, "missing source pool or volume for disk of type 'volume'")
            }
            targetDevice = target?[attribute: "dev"] ?? ""
            targetBus = try Bus.attribute("bus", of: target, default: .virtio)
            readonly = element.element(named: "readonly") != nil
            shareable = element.element(named: "shareable") != nil
            // libvirt's define-time checks of the two flags.
            if readonly && device == .disk && (targetBus == .ide || targetBus == .sata) {
                throw DomainXMLError(.unsupported, line: element.line, "readonly \(targetBus.rawValue) disks are not supported")
            }
            if shareable && !readonly && (format ?? "raw") != "raw" && type != .volume {
                throw DomainXMLError(.unsupported, line: element.line, "shared access for disk '\(targetDevice)' requires use of supported storage format")
            }
            bootOrder = DeviceCommon.bootOrder(element)
            ioTune = try element.element(named: "iotune").map { tune throws(DomainXMLError) in try IOTune(tune) }
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
            driveAddress = try DriveAddress(device: element)
        }
    }
}
