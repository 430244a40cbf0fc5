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

        public var type: SourceType
        public var device: Device
        /// `<driver type>`: the image format (`raw`, `qcow2`, …).
        public var format: String?
        /// The file or block device; `nil` for an empty CD-ROM.
        public var source: String?
        public var targetDevice: String
        public var targetBus: Bus
        public var readonly: Bool
        public var bootOrder: Int?
        public var alias: String?

        static let schema = ElementSchema("disk", attributes: ["type", "device"], children: [
            ElementSchema("driver", attributes: ["name", "type"]), ElementSchema("source", attributes: ["file", "dev"]),
            ElementSchema("target", attributes: ["dev", "bus"]), .text("readonly"), .boot, .alias, .address,
        ])

        /// Reads a normalised `<disk>` (its bus is filled in from the target's prefix).
        init(_ element: XMLElement) throws(DomainXMLError) {
            let source = element.element(named: "source"), target = element.element(named: "target")
            type = try SourceType.attribute("type", of: element, default: .file)
            device = try Device.attribute("device", of: element, default: .disk)
            format = element.element(named: "driver")?[attribute: "type"]
            self.source = source?[attribute: "file"] ?? source?[attribute: "dev"]
            targetDevice = target?[attribute: "dev"] ?? ""
            targetBus = try Bus.attribute("bus", of: target, default: .virtio)
            readonly = element.element(named: "readonly") != nil
            bootOrder = DeviceCommon.bootOrder(element)
            alias = DeviceCommon.alias(element)
        }
    }
}
