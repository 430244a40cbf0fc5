import XMLTree

extension DomainDefinition {
    /// `<controller>`.
    public struct Controller: Hashable, Sendable, ModelledElement {
        /// `<controller type>`.
        public enum Kind: String, ModelledValue {
            case ide, fdc, scsi, sata, virtioSerial = "virtio-serial", ccid, usb, pci, xenbus, isa
        }

        public var type: Kind
        public var index: Int
        public var model: String?
        public var alias: String?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?
        /// `<master startport>` of a USB companion controller (UHCI beside an EHCI).
        public var masterStartPort: Int?
        /// `<target chassis>` of a PCIe root port.
        public var chassis: UInt32?
        /// `<target port>` of a PCIe root port.
        public var port: UInt32?
        /// `<target chassisNr>` of a PCI bridge (1–255): its chassis number (QEMU's `chassis_nr`).
        public var chassisNumber: Int?
        /// `<target hotplug>` of a PCI root bus (ACPI hot-plug on i440fx) or a PCIe root port:
        /// whether devices can be plugged in and out; nil: QEMU's default (they can).
        public var hotplug: Bool?
        /// `ports`: the root-hub ports of an xHCI controller (QEMU's `p2` and `p3`), the ports of
        /// a virtio-serial controller (`max_ports`).
        public var ports: Int?
        /// `vectors` of a virtio-serial controller (MSI-X vectors).
        public var vectors: Int?
        /// `<pcihole64>` of a PCI root bus, in KiB: the size of the 64-bit PCI window (QEMU's
        /// `pci-hole64-size` of the host bridge).
        public var pciHole64KiB: UInt64?

        /// `<target busNr>` of an expander bus: the number of its root bus in the guest.
        public var busNumber: Int?
        /// `<target><node>` of an expander bus: the guest NUMA node it belongs to.
        public var numaNode: Int?
        /// `<model name>`: the QEMU device of a PCI controller, as written.
        public var modelName: String?

        /// The model of a PCI controller, when it is one libvirt knows.
        public var pciModel: PCIControllerModel? { type == .pci ? model.flatMap(PCIControllerModel.init(rawValue:)) : nil }
        /// A PCIe root port or switch downstream port: a slot on a q35 guest that takes one
        /// hot-plugged device.
        public var isPCIePort: Bool { pciModel?.isPCIePort ?? false }
        /// `<address type='usb'>` of a USB device controller (CCID).
        public var usbAddress: USBAddress?

        /// `<driver>`.
        public var driver = ControllerDriver()
        /// Whether QEMU's device for it is a virtio one (virtio-scsi, virtio-serial).
        public var isVirtio: Bool { (type == .scsi && (model == nil || model == "virtio-scsi" || virtioModel != nil)) || type == .virtioSerial }
        /// The virtio variant a virtio-scsi or virtio-serial controller's `model` names
        /// (`virtio-transitional`, `virtio-non-transitional`; `virtio` for virtio-serial).
        public var virtioModel: VirtioModel? {
            switch type {
            case .virtioSerial: model.flatMap(VirtioModel.init(rawValue:))
            // A SCSI controller's `virtio` is no model of libvirt's (it says `virtio-scsi`).
            case .scsi where model != "virtio": model.flatMap(VirtioModel.init(rawValue:))
            default: nil
            }
        }

        static let schema = ElementSchema("controller", attributes: ["type", "index", "model", "ports", "vectors"], children: [
            .alias, .address, ElementSchema("master", attributes: ["startport"]), ElementSchema("model", attributes: ["name"]),
            ElementSchema("target", attributes: ["chassis", "port", "chassisNr", "busNr", "hotplug"], children: [.text("node")]),
            ElementSchema("driver", attributes: ControllerDriver.attributes),
            .text("pcihole64", attributes: ["unit"]),
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            type = try Kind.requiredAttribute("type", of: element)
            index = Int(element[attribute: "index"] ?? "0") ?? 0
            model = element[attribute: "model"]
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
            usbAddress = DeviceCommon.usbAddress(element)
            driver = try ControllerDriver(element.element(named: "driver"))
            // Range-checked at define (DomainNumberChecks).
            ports = element[attribute: "ports"].flatMap { Int($0) }
            vectors = type == .virtioSerial ? element[attribute: "vectors"].flatMap { Int($0) } : nil
            // In KiB once normalised (DomainNormalizer.normalizePCIHole64).
            pciHole64KiB = element.element(named: "pcihole64").flatMap { UInt64($0.text) }
            modelName = type == .pci ? element.element(named: "model")?[attribute: "name"] : nil
            if let target = element.element(named: "target") {
                if type == .pci, let text = target[attribute: "busNr"] {
                    guard let number = Int(text), number >= 0 else {
                        throw DomainXMLError(.invalid, line: target.line, "Invalid value for attribute 'busNr' in element 'target': '\(text)'. Expected non-negative integer value")
                    }
                    guard (1...254).contains(number) else {
                        throw DomainXMLError(.unsupported, line: target.line, "PCI controller busNr '\(number)' out of range - must be 1-254")
                    }
                    busNumber = number
                }
                if let node = target.element(named: "node") {
                    guard let number = Int(node.text), number >= 0 else {
                        throw DomainXMLError(.invalid, line: node.line, "invalid NUMA node in target")
                    }
                    if type == .pci { numaNode = number }
                }
                chassis = target[attribute: "chassis"].flatMap(PCIAddress.number)
                port = target[attribute: "port"].flatMap(PCIAddress.number)
                if type == .pci, let text = target[attribute: "chassisNr"] {
                    guard let number = Int(text), number >= 0 else {
                        throw DomainXMLError(.invalid, line: target.line, "Invalid value for attribute 'chassisNr' in element 'target': '\(text)'. Expected non-negative integer value")
                    }
                    guard (1...255).contains(number) else {
                        throw DomainXMLError(.unsupported, line: target.line, "PCI controller chassisNr '\(number)' out of range - must be 1-255")
                    }
                    guard model == "pci-bridge" else {
                        let modelName = element.element(named: "model")?[attribute: "name"] ?? "none"
                        throw DomainXMLError(.unsupported, line: target.line,
                            "Option 'chassisNr' is not valid for PCI controller with index '\(index)', model '\(model ?? "")' and modelName '\(modelName)'")
                    }
                    chassisNumber = number
                }
                if type == .pci, let value = try AttributeValues.onOff("hotplug", of: target) {
                    // libvirt's check (qemuValidateDomainDeviceDefControllerPCI).
                    guard ["pci-root", "pcie-root-port", "pcie-switch-downstream-port"].contains(model ?? "") else {
                        let modelName = element.element(named: "model")?[attribute: "name"] ?? "none"
                        throw DomainXMLError(.unsupported, line: target.line,
                            "Option 'hotplug' is not valid for PCI controller with index '\(index)', model '\(model ?? "")' and modelName '\(modelName)'")
                    }
                    hotplug = value
                }
            }
            if let master = element.element(named: "master") {
                guard let text = master[attribute: "startport"], let port = Int(text), (0...255).contains(port) else {
                    throw DomainXMLError(.invalid, line: master.line, "Cannot parse <master> 'startport' attribute")
                }
                masterStartPort = port
            }
        }
    }
}
