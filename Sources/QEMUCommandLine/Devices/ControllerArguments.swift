import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// The controllers other devices need: virtio-scsi for SCSI disks, virtio-serial for virtio
    /// channels and consoles, an xHCI controller for USB input.
    mutating func addImplicitControllers() throws(CommandLineError) {
        let devices = domain.devices
        // PCI controllers first, by index, so each bus exists before what plugs into it.
        for index in devices.controllers.indices.sorted(by: { devices.controllers[$0].index < devices.controllers[$1].index }) {
            let controller = devices.controllers[index]
            guard controller.type == .pci else { continue }
            guard let model = controller.pciModel else {
                if controller.model == nil { continue }
                throw CommandLineError(.unsupported, "PCI controller model '\(controller.model ?? "")' is not supported")
            }
            let id: (String, JSONValue) = ("id", .string(DeviceAliases.controller(controller, machine: domain.os.machine)))
            let driver: (String, JSONValue) = ("driver", .string(controller.modelName ?? model.defaultModelName ?? ""))
            switch model {
            case .pcieRootPort, .pcieSwitchDownstreamPort: try addPCIePort(at: index)
            case .pcieToPCIBridge, .dmiToPCIBridge, .pcieSwitchUpstreamPort:
                addDevice([driver, id] + pciPlacement(controller.pciAddress))
            case .pciBridge:
                addDevice([driver, ("chassis_nr", .unsigned(UInt64(controller.chassisNumber ?? controller.index))), id] + pciPlacement(controller.pciAddress))
            case .pciExpanderBus, .pcieExpanderBus:
                // libvirt's order (qemuBuildControllerPCIDevProps): bus_nr, id, numa_node.
                guard let busNumber = controller.busNumber else {
                    throw CommandLineError(.unsupported, "Required option 'busNr' is not set for PCI controller with index '\(controller.index)', model '\(model.rawValue)'")
                }
                var members: [(String, JSONValue)] = [driver, ("bus_nr", .unsigned(UInt64(busNumber))), id]
                if let node = controller.numaNode { members.append(("numa_node", .unsigned(UInt64(node)))) }
                addDevice(members + pciPlacement(controller.pciAddress))
            case .pciRoot:
                // ACPI hot-plug on the i440fx root bus (libvirt's qemuBuildPMPCIRootHotplugCommandLine).
                if controller.index == 0, let hotplug = controller.hotplug { add("-global", "PIIX4_PM.acpi-root-pci-hotplug=\(hotplug ? "on" : "off")") }
            case .pcieRoot: break
            }
        }
        if devices.disks.contains(where: { $0.targetBus == .scsi }) && !devices.controllers.contains(where: { $0.type == .scsi && $0.index == 0 }) {
            addDevice([("driver", .string("virtio-scsi-pci")), ("id", .string("scsi0"))])
        }
        for index in devices.controllers.indices where devices.controllers[index].type == .scsi { try addSCSIController(at: index) }
        if devices.channels.contains(where: { $0.targetType == "virtio" }) || devices.consoles.contains(where: { $0.targetType == "virtio" }) {
            let controller = devices.controllers.first { $0.type == .virtioSerial && $0.index == 0 }
            var members: [(String, JSONValue)] = [("driver", .string((controller?.virtioModel ?? .virtio).device("virtio-serial-pci")))]
                + Self.virtioOptionMembers(controller?.driver.virtio ?? .init())
                + [("id", .string(controller.map { DeviceAliases.controller($0, machine: domain.os.machine) } ?? "virtio-serial0"))]
            if let ports = controller?.ports { members.append(("max_ports", .unsigned(UInt64(ports)))) }
            if let vectors = controller?.vectors { members.append(("vectors", .unsigned(UInt64(vectors)))) }
            addDevice(members + pciPlacement(controller?.pciAddress))
        }
        if devices.inputs.contains(where: { $0.bus == .usb }) && !devices.controllers.contains(where: { $0.type == .usb }) {
            addDevice([("driver", .string("qemu-xhci")), ("id", .string("usb"))])
        }
    }

    /// A `pcie-root-port` or `pcie-switch-downstream-port` controller of index N: the bus
    /// `pci.N` (q35 only), a root port on `pcie.0` unless the XML places it, with libvirt's
    /// default chassis (N) and port (0x10 + N − 1) unless the XML gives them.
    mutating func addPCIePort(at index: Int) throws(CommandLineError) {
        let controller = domain.devices.controllers[index]
        guard (domain.os.machine ?? "").contains("q35") else {
            throw CommandLineError(.unsupported, "a \(controller.model ?? "") controller needs a q35 machine")
        }
        guard (1...255).contains(controller.index) else { throw CommandLineError(.unsupported, "invalid PCI controller index \(controller.index)") }
        let number = UInt32(controller.index)
        let placement = controller.pciAddress.map { pciPlacement($0) } ?? [("bus", .string("pcie.0"))]
        addDevice([
            ("driver", .string(controller.modelName ?? controller.pciModel?.defaultModelName ?? "pcie-root-port")), ("port", .unsigned(UInt64(controller.port ?? (0x10 + number - 1) % 256))),
            ("chassis", .unsigned(UInt64(controller.chassis ?? number))), ("id", .string(DeviceAliases.controller(controller, machine: domain.os.machine))),
        ] + (controller.hotplug.map { [("hotplug", .bool($0))] } ?? []) + placement)
    }

    /// A SCSI controller (`virtio-scsi`, or `lsilogic`, libvirt's default) of index N: `scsiN`.
    mutating func addSCSIController(at index: Int) throws(CommandLineError) {
        let controller = domain.devices.controllers[index]
        let driver: String
        switch controller.model {
        case nil, "virtio-scsi"?: driver = "virtio-scsi-pci"
        case "virtio-transitional"?, "virtio-non-transitional"?: driver = (controller.virtioModel ?? .virtio).device("virtio-scsi-pci")
        case "lsilogic"?: driver = "lsi"
        default: throw CommandLineError(.unsupported, "SCSI controller model '\(controller.model ?? "")' is not supported")
        }
        guard driver.hasPrefix("virtio-scsi-pci") else {
            addDevice([("driver", .string(driver)), ("id", .string(DeviceAliases.controller(controller, machine: domain.os.machine)))] + pciPlacement(controller.pciAddress))
            return
        }
        // libvirt's order (qemuBuildControllerSCSIDevProps): the virtio options, the I/O thread,
        // the id, then the queue settings.
        let settings = controller.driver
        var members: [(String, JSONValue)] = [("driver", .string(driver))] + Self.virtioOptionMembers(settings.virtio)
        if let thread = settings.ioThread { members.append(("iothread", .string("iothread\(thread)"))) }
        members.append(("id", .string(DeviceAliases.controller(controller, machine: domain.os.machine))))
        for (name, value) in [("num_queues", settings.queues), ("cmd_per_lun", settings.commandsPerLUN), ("max_sectors", settings.maximumSectors)] {
            if let value { members.append((name, .unsigned(UInt64(value)))) }
        }
        if let ioeventfd = settings.ioeventfd { members.append(("ioeventfd", .bool(ioeventfd))) }
        addDevice(members + pciPlacement(controller.pciAddress))
    }

    /// The `bus`, `addr` and `multifunction` of a device with an `<address type='pci'>`, as
    /// libvirt places it: bus 0 is the machine's root bus (`pcie.0` on q35, `pci.0` otherwise),
    /// bus N the controller of index N (`pci.N`); the slot and function as `0xS` or `0xS.0xF`.
    /// A device without an address is placed by QEMU.
    func pciPlacement(_ address: DomainDefinition.PCIAddress?, acpiIndex: UInt32? = nil) -> [(String, JSONValue)] {
        guard let address else { return acpiIndex.map { [("acpi-index", .unsigned(UInt64($0)))] } ?? [] }
        let rootBus = (domain.os.machine ?? "").contains("q35") ? "pcie.0" : "pci.0"
        let slot = "0x" + String(address.slot, radix: 16)
        // libvirt's order (qemuBuildDeviceAddressProps): bus, multifunction, addr, acpi-index.
        var members: [(String, JSONValue)] = [("bus", .string(address.bus == 0 ? rootBus : "pci.\(address.bus)"))]
        if address.multifunction { members.append(("multifunction", .bool(true))) }
        members.append(("addr", .string(address.function == 0 ? slot : slot + ".0x" + String(address.function, radix: 16))))
        if let acpiIndex { members.append(("acpi-index", .unsigned(UInt64(acpiIndex)))) }
        return members
    }

    /// libvirt's USB controller models and the QEMU devices they are.
    static let usbControllerDevices: [String: String] = [
        "piix3-uhci": "piix3-usb-uhci", "piix4-uhci": "piix4-usb-uhci", "ehci": "usb-ehci", "ich9-ehci1": "ich9-usb-ehci1",
        "ich9-uhci1": "ich9-usb-uhci1", "ich9-uhci2": "ich9-usb-uhci2", "ich9-uhci3": "ich9-usb-uhci3", "vt82c686b-uhci": "vt82c686b-usb-uhci",
        "pci-ohci": "pci-ohci", "nec-xhci": "nec-usb-xhci", "qemu-xhci": "qemu-xhci",
    ]

    /// The domain's USB controllers: a controller of index N is `usb` (N = 0) or `usbN`; a
    /// companion (`<master startport>`) joins the bus of the controller of its index, from that
    /// port, as libvirt's command line does. `model='none'` means no USB at all.
    mutating func addUSBControllers() throws(CommandLineError) {
        for controller in domain.devices.controllers where controller.type == .usb {
            let model = controller.model ?? "piix3-uhci"
            if model == "none" { continue }
            guard let device = Self.usbControllerDevices[model] else {
                throw CommandLineError(.unsupported, "USB controller model '\(model)' is not supported")
            }
            let alias = DeviceAliases.controller(controller, machine: domain.os.machine)
            var rootHubPorts: [(String, JSONValue)] = []
            if let ports = controller.ports {
                guard model == "qemu-xhci" || model == "nec-xhci" else {
                    throw CommandLineError(.unsupported, "usb controller type '\(model)' doesn't support 'ports' with this QEMU binary")
                }
                rootHubPorts = [("p2", .unsigned(UInt64(ports))), ("p3", .unsigned(UInt64(ports)))]
            }
            if let port = controller.masterStartPort {
                addDevice([("driver", .string(device)), ("masterbus", .string(alias + ".0")), ("firstport", .integer(Int64(port)))] + pciPlacement(controller.pciAddress))
            } else {
                addDevice([("driver", .string(device))] + rootHubPorts + [("id", .string(alias))] + pciPlacement(controller.pciAddress))
            }
        }
    }
}
