import XMLTree

extension DomainDefinition {
    /// `<hostdev mode='subsystem'>`: a device of the host given to the guest (libvirt's
    /// `virDomainHostdevDef`), a USB device (by vendor and product, or by bus and device number)
    /// or a PCI function.
    public struct HostDevice: Hashable, Sendable, ModelledElement {
        /// `<hostdev type>`.
        public enum Kind: String, ModelledValue {
            case usb, pci, scsi, scsiHost = "scsi_host", mdev
        }

        /// `<source startupPolicy>`: what a missing USB device does to the start.
        public enum StartupPolicy: String, ModelledValue {
            case mandatory, requisite, optional
        }

        /// `<driver name>` of a PCI device.
        public enum Backend: String, ModelledValue {
            case `default`, kvm, vfio, xen
        }

        /// Where a USB device is on the host: by its ids, or by bus and device number, or both.
        public struct USBSource: Hashable, Sendable {
            public var vendor: UInt16?
            public var product: UInt16?
            public var bus: Int?
            public var device: Int?
            /// `<source guestReset>`: which resets the guest asks of the device QEMU passes on.
            public var guestReset: GuestReset?
        }

        /// `<source guestReset>` of a USB device: none (`off`), only of a device not yet
        /// configured (`uninitialized`), or all (`on`).
        public enum GuestReset: String, ModelledValue {
            case off, uninitialized, on
        }

        /// A SCSI device of the host (`<source><adapter name><address bus target unit>`):
        /// `scsi_hostN`'s device at that address, given to the guest whole (`scsi-generic`).
        public struct SCSIHostSource: Hashable, Sendable {
            /// `<adapter name>`: the host's SCSI adapter (`scsi_host0`).
            public var adapter: String
            public var bus: UInt32
            public var target: UInt32
            public var unit: UInt64
        }

        /// `<hostdev model>` of a mediated device: the VFIO device QEMU makes of it.
        public enum MediatedModel: String, ModelledValue {
            case vfioPCI = "vfio-pci", vfioCCW = "vfio-ccw", vfioAP = "vfio-ap"
        }

        /// A mediated device (`type='mdev'`): its UUID under `/sys/bus/mdev/devices`, its
        /// model, and whether its display (`display`) and a ramfb boot display (`ramfb`) are on.
        public struct MediatedSource: Hashable, Sendable {
            public var uuid: String
            public var model: MediatedModel
            public var display: Bool?
            public var ramfb: Bool?
        }

        /// A vhost-scsi target of the host's kernel (`type='scsi_host'`, `<source protocol='vhost'
        /// wwpn>`), and the virtio model of the guest's controller for it.
        public struct VhostSCSISource: Hashable, Sendable {
            public var wwpn: String
            public var model: VhostSCSIModel?
        }

        /// `<hostdev model>` of a vhost-scsi device.
        public enum VhostSCSIModel: String, ModelledValue {
            case virtio, virtioTransitional = "virtio-transitional", virtioNonTransitional = "virtio-non-transitional"
        }

        public var type: Kind
        /// A `type='scsi_host'` device.
        public var vhostSCSI: VhostSCSISource?
        /// A `type='mdev'` device.
        public var mediated: MediatedSource?
        /// A `type='scsi'` device on a host adapter.
        public var scsiHost: SCSIHostSource?
        /// A `type='scsi'` device that is an iSCSI LUN (`<source protocol='iscsi' name>` with
        /// its host, `<auth>` and `<initiator>`), which QEMU's iSCSI client reaches itself.
        public var iscsi: Disk.NetworkSource?
        /// `<readonly/>` of a SCSI device.
        public var readonly = false
        /// `<shareable/>` of a SCSI device.
        public var shareable = false
        /// `<hostdev rawio>` of a SCSI device.
        public var rawio: Bool?
        /// Where a SCSI device sits on the guest's SCSI controllers.
        public var driveAddress: DriveAddress?
        /// `<hostdev managed>`: whether the host driver is detached and reattached for the guest.
        public var managed: Bool
        public var startupPolicy: StartupPolicy?
        public var usb: USBSource?
        /// The PCI function on the host (`<source><address domain bus slot function>`).
        public var hostPCIAddress: PCIAddress?
        public var backend: Backend?
        /// `<rom bar file enabled>`.
        public var romBar: Bool?
        public var romFile: String?
        public var romEnabled: Bool?
        public var bootOrder: Int?
        public var alias: String?
        /// `<acpi index>` (a PCI device's; QEMU's `acpi-index`).
        public var acpiIndex: UInt32?
        public var pciAddress: PCIAddress?
        public var usbAddress: USBAddress?

        static let schema = ElementSchema("hostdev", attributes: ["mode", "type", "managed", "sgio", "rawio", "model", "display", "ramfb"], children: [
            ElementSchema("driver", attributes: ["name"]),
            ElementSchema("source", attributes: ["startupPolicy", "protocol", "name", "guestReset", "wwpn"], children: [
                ElementSchema("vendor", attributes: ["id"]), ElementSchema("product", attributes: ["id"]),
                ElementSchema("address", attributes: ["domain", "bus", "slot", "function", "device", "target", "unit", "uuid"]),
                ElementSchema("adapter", attributes: ["name"]),
                Disk.NetworkSource.schema.child("host")!, Disk.NetworkSource.schema.child("auth")!, Disk.NetworkSource.schema.child("initiator")!,
            ]),
            ElementSchema("readonly"), ElementSchema("shareable"),
            ElementSchema("rom", attributes: ["bar", "file", "enabled"]), .boot, .alias, .acpi, .address,
        ])

        /// Reads a normalised `<hostdev>`.
        init(_ element: XMLElement) throws(DomainXMLError) {
            let mode = element[attribute: "mode"] ?? "subsystem"
            guard mode == "subsystem" else {
                throw DomainXMLError(.unsupported, line: element.line, "hostdev mode '\(mode)' is not supported: only subsystem devices can be given to a QEMU guest")
            }
            type = try Kind.requiredAttribute("type", of: element)
            managed = element[attribute: "managed"] == "yes"
            let source = element.element(named: "source")
            startupPolicy = try StartupPolicy.optionalAttribute("startupPolicy", of: source)
            backend = try Backend.optionalAttribute("name", of: element.element(named: "driver"))
            switch type {
            case .usb:
                var found = USBSource()
                found.vendor = try Self.identifier("vendor", in: source)
                found.product = try Self.identifier("product", in: source)
                found.guestReset = try GuestReset.optionalAttribute("guestReset", of: source)
                if let address = source?.element(named: "address") {
                    found.bus = try Self.number("bus", of: address)
                    found.device = try Self.number("device", of: address)
                }
                // libvirt's words (virDomainHostdevSubsysUSBDefParseXML).
                if found.vendor != nil && found.product == nil { throw DomainXMLError(.invalid, line: element.line, "missing product") }
                if found.vendor == nil && found.product != nil { throw DomainXMLError(.invalid, line: element.line, "missing vendor") }
                guard found.vendor != nil || (found.bus != nil && found.device != nil) else {
                    throw DomainXMLError(.invalid, line: element.line, "usb device needs a vendor and product id or a bus and device number")
                }
                usb = found
            case .pci:
                guard let address = source?.element(named: "address") else {
                    throw DomainXMLError(.invalid, line: element.line, "PCI host devices must use 'pci' or 'unassigned' address type")
                }
                var withType = address
                withType[attribute: "type"] = "pci"
                hostPCIAddress = try PCIAddress(device: XMLElement(name: "source", children: [.element(withType)]))
            case .scsi:
                guard let source else { throw DomainXMLError(.invalid, line: element.line, "Missing <source> element in hostdev device") }
                try readSCSISource(source)
                readonly = element.element(named: "readonly") != nil
                shareable = element.element(named: "shareable") != nil
                rawio = try AttributeValues.yesNo("rawio", of: element)
                // libvirt 9.0 (qemuValidateDomainDeviceDefHostdev… and its parser) keeps only the
                // filtered default.
                switch element[attribute: "sgio"] {
                case nil, "filtered"?: break
                case "unfiltered"?: throw DomainXMLError(.unsupported, line: element.line, "unfiltered sgio is no longer supported")
                case let other?: throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute 'sgio' in element 'hostdev': '\(other)'.")
                }
                driveAddress = try DriveAddress(device: element)
            case .mdev:
                mediated = try Self.mediatedSource(element, source: source)
            case .scsiHost:
                guard let source else { throw DomainXMLError(.invalid, line: element.line, "Missing <source> element in hostdev device") }
                vhostSCSI = try Self.vhostSCSISource(element, source: source)
            }
            // libvirt's words (virDomainHostdevDefParseXMLSubsys).
            if type != .scsi {
                if element[attribute: "sgio"] != nil { throw DomainXMLError(.invalid, line: element.line, "sgio is only supported for scsi host device") }
                if element[attribute: "rawio"] != nil { throw DomainXMLError(.invalid, line: element.line, "rawio is only supported for scsi host device") }
            }
            if type != .mdev && type != .scsiHost && element[attribute: "model"] != nil {
                throw DomainXMLError(.invalid, line: element.line, "'model' attribute in <hostdev> is only supported when type='\(type.rawValue)'")
            }
            if let rom = element.element(named: "rom") {
                romBar = try Interface.Driver.onOff("bar", of: rom)
                romFile = rom[attribute: "file"]
                if let enabled = rom[attribute: "enabled"] {
                    guard enabled == "yes" || enabled == "no" else {
                        throw DomainXMLError(.invalid, line: rom.line, "Invalid value for attribute 'enabled' in element 'rom': '\(enabled)'.")
                    }
                    romEnabled = enabled == "yes"
                }
            }
            bootOrder = DeviceCommon.bootOrder(element)
            alias = DeviceCommon.alias(element)
            acpiIndex = try DeviceCommon.acpiIndex(element)
            pciAddress = try PCIAddress(device: element)
            usbAddress = DeviceCommon.usbAddress(element)
        }

        /// A vhost-scsi device's source, with libvirt's checks and words
        /// (`virDomainHostdevSubsysSCSIVHostDefParseXML`).
        static func vhostSCSISource(_ element: XMLElement, source: XMLElement) throws(DomainXMLError) -> VhostSCSISource {
            let model = try VhostSCSIModel.optionalAttribute("model", of: element)
            guard let networkProtocol = source[attribute: "protocol"] else { throw DomainXMLError(.invalid, line: source.line, "Missing scsi_host subsystem protocol") }
            guard networkProtocol == "vhost" else { throw DomainXMLError(.unsupported, line: source.line, "Unknown scsi_host subsystem protocol '\(networkProtocol)'") }
            guard let wwpn = source[attribute: "wwpn"] else { throw DomainXMLError(.invalid, line: source.line, "missing vhost-scsi hostdev source wwpn") }
            // libvirt's virValidateWWN after `naa.`: sixteen hexadecimal digits, optionally after `0x`.
            let digits = wwpn.hasPrefix("naa.") ? String(wwpn.dropFirst(4)) : ""
            let bare = digits.hasPrefix("0x") ? String(digits.dropFirst(2)) : digits
            guard bare.count == 16, UInt64(bare, radix: 16) != nil else { throw DomainXMLError(.invalid, line: source.line, "malformed 'wwpn' value") }
            return VhostSCSISource(wwpn: wwpn, model: model)
        }

        /// A mediated device's model, settings and UUID, with libvirt's checks and words
        /// (`virDomainHostdevSubsysMediatedDevDefParseXML`).
        static func mediatedSource(_ element: XMLElement, source: XMLElement?) throws(DomainXMLError) -> MediatedSource {
            let model = try MediatedModel.requiredAttribute("model", of: element)
            let display = try AttributeValues.onOff("display", of: element)
            let ramfb = try AttributeValues.onOff("ramfb", of: element)
            guard let address = source?.element(named: "address") else { throw DomainXMLError(.unsupported, line: element.line, "Missing <address> element") }
            guard let text = address[attribute: "uuid"] else { throw DomainXMLError(.unsupported, line: address.line, "Missing 'uuid' attribute for element <address>") }
            guard let uuid = DomainNormalizer.canonicalUUID(text) else { throw DomainXMLError(.internalError, line: address.line, "Cannot parse uuid attribute of element <address>") }
            return MediatedSource(uuid: uuid, model: model, display: display, ramfb: ramfb)
        }

        /// A SCSI device's `<source>`, with libvirt's checks and words
        /// (`virDomainHostdevSubsysSCSIDefParseXML`).
        mutating func readSCSISource(_ source: XMLElement) throws(DomainXMLError) {
            switch source[attribute: "protocol"] {
            case nil:
                guard let address = source.element(named: "address") else {
                    throw DomainXMLError(.invalid, line: source.line, "'address' must be specified for scsi hostdev source")
                }
                func part(_ name: String, maximum: UInt64) throws(DomainXMLError) -> UInt64 {
                    guard let text = address[attribute: name] else {
                        throw DomainXMLError(.invalid, line: address.line, "Missing required attribute '\(name)' in element 'address'")
                    }
                    guard let value = DeviceCommon.unsigned(text), value <= maximum else {
                        throw DomainXMLError(.invalid, line: address.line, "Invalid value for attribute '\(name)' in element 'address': '\(text)'. Expected non-negative integer value")
                    }
                    return value
                }
                let bus = try part("bus", maximum: UInt64(UInt32.max)), target = try part("target", maximum: UInt64(UInt32.max))
                let unit = try part("unit", maximum: UInt64.max)
                guard let adapter = source.element(named: "adapter")?[attribute: "name"], !adapter.isEmpty else {
                    throw DomainXMLError(.invalid, line: source.line, "'adapter' name must be specified for scsi hostdev source")
                }
                scsiHost = SCSIHostSource(adapter: adapter, bus: UInt32(bus), target: UInt32(target), unit: unit)
            case "iscsi"?:
                guard source[attribute: "name"] != nil else { throw DomainXMLError(.invalid, line: source.line, "missing iSCSI hostdev source path name") }
                let hosts = source.elements(named: "host")
                guard !hosts.isEmpty else { throw DomainXMLError(.invalid, line: source.line, "missing the host address for the iSCSI hostdev") }
                guard hosts.count == 1 else {
                    throw DomainXMLError(.invalid, line: source.line, "only one source host address may be specified for the iSCSI hostdev")
                }
                if let type = source.element(named: "auth")?.element(named: "secret")?[attribute: "type"], type != "iscsi" {
                    throw DomainXMLError(.internalError, line: source.line, "hostdev invalid secret type '\(type)'")
                }
                iscsi = try Disk.NetworkSource(source)
            case let other?:
                throw DomainXMLError(.unsupported, line: source.line, "Unknown SCSI subsystem protocol '\(other)'")
            }
        }

        /// A USB id: `0x` and up to four hex digits, as libvirt reads it.
        static func identifier(_ name: String, in source: XMLElement?) throws(DomainXMLError) -> UInt16? {
            guard let element = source?.element(named: name) else { return nil }
            guard let text = element[attribute: "id"] else { throw DomainXMLError(.invalid, line: element.line, "usb \(name) needs id") }
            guard let value = DeviceCommon.unsigned(text), let id = UInt16(exactly: value) else {
                throw DomainXMLError(.invalid, line: element.line, "cannot parse \(name) id \(text)")
            }
            return id
        }

        static func number(_ name: String, of address: XMLElement) throws(DomainXMLError) -> Int? {
            guard let text = address[attribute: name] else { return nil }
            guard let value = DeviceCommon.unsigned(text), value <= 999 else {
                throw DomainXMLError(.invalid, line: address.line, "cannot parse \(name) attribute")
            }
            return Int(value)
        }
    }
}
