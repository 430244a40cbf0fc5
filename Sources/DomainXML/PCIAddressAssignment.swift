import XMLTree

/// libvirt's PCI address assignment for x86 guests (`qemuDomainAssignPCIAddresses`), done at
/// define so that `dumpxml` shows the addresses and QEMU gets the same ones on every start:
///
/// - the chipset's fixed functions are reserved — on i440fx the PIIX3 at 00:01 (ISA, IDE at
///   .1, the first UHCI at .2, power management at .3) and the primary video at 00:02.0; on
///   q35 the LPC, SATA (00:1f.2) and SMBus functions, ICH9 USB 2 at 00:1d, ICH9 audio at
///   00:1b.0 and the primary video at 00:01.0;
/// - PCI controllers without an address come first: PCIe root ports fill the functions of a
///   slot of the root bus before taking the next slot (libvirt's aggregation);
/// - then the devices, in libvirt's order (filesystems, interfaces, sound, controllers, virtio
///   disks, balloon, RNGs, watchdog, other videos, virtio inputs), each at the first free place
///   its kind may go: on q35 a PCIe device takes a free root port, a conventional PCI device a
///   slot of a PCIe-to-PCI bridge; on i440fx every device takes a slot of the root bus;
/// - when nothing fits, controllers are added as libvirt adds them (a root port, or a root port
///   with a PCIe-to-PCI bridge behind it), and a q35 guest whose definition named no PCI
///   controller of its own gets one spare root port for hot-plug;
/// - function 0 of a slot with more functions in use is marked multifunction, and root ports
///   get their model name, chassis and port.
///
/// Addresses given in the XML are kept (two devices at one address are refused, with
/// libvirt's message). Other machine types are left to QEMU.
enum PCIAddressAssignment {
    typealias Chipset = X86Chipset

    /// What a device may plug into.
    enum Connection {
        /// A PCI Express endpoint: a root port's slot (on q35).
        case pcie
        /// A PCI Express endpoint that may also sit on the root complex itself, as an
        /// integrated endpoint (libvirt's `VIR_PCI_CONNECT_INTEGRATED`): a virtio IOMMU takes
        /// the root bus's first free slot.
        case pcieIntegrated
        /// A conventional PCI device: the i440fx root bus, a PCI bridge or a PCIe-to-PCI bridge.
        case pci
        /// A PCIe root port: a function of a root-bus slot.
        case rootPort
        /// A PCIe-to-PCI bridge: a root port's slot.
        case pcieToPCIBridge
        /// A PCI bridge: a conventional slot.
        case pciBridge
        /// A DMI-to-PCI bridge: a slot of the PCIe root bus or a PCIe expander bus.
        case dmiToPCIBridge
        /// A PCIe switch's upstream port: a root port's or a downstream port's slot.
        case switchUpstreamPort
        /// A PCIe switch's downstream port: a slot of an upstream port.
        case switchDownstreamPort
        /// A PCI expander bus: a slot of the i440fx root bus.
        case pciExpanderBus
        /// A PCIe expander bus: a slot of the PCIe root bus.
        case pcieExpanderBus

        /// libvirt's name of what a controller needs, in its message for one placed on a bus
        /// that does not take it.
        var requirement: String {
            switch self {
            case .pcie, .pcieIntegrated: "PCI Express device"
            case .pci: "standard PCI device"
            case .rootPort: "pcie-root-port"
            case .pcieToPCIBridge: "pcie-to-pci-bridge"
            case .pciBridge: "pci-bridge"
            case .dmiToPCIBridge: "dmi-to-pci-bridge"
            case .switchUpstreamPort: "pcie-switch-upstream-port"
            case .switchDownstreamPort: "pcie-switch-downstream-port"
            case .pciExpanderBus: "pci-expander-bus"
            case .pcieExpanderBus: "pcie-expander-bus"
            }
        }
    }

    /// A bus the guest has: the root bus or one a PCI controller provides, with what libvirt
    /// lets plug into it (`virDomainPCIAddressBusSetModel`). Only what libvirt places on its own
    /// counts: a DMI-to-PCI bridge, a PCIe expander bus and the root complex take no device
    /// that was not given their address.
    struct Bus {
        /// The controller's model; nil for one libvirt does not know (nothing is placed on it).
        var model: PCIControllerModel?
        /// Used functions by slot (bit N: function N).
        var functions = [UInt8](repeating: 0, count: 32)
        /// Slots whose functions hold root ports (more may join).
        var aggregate = [Bool](repeating: false, count: 32)

        var slots: ClosedRange<Int> {
            switch model {
            case .pcieRootPort?, .pcieSwitchDownstreamPort?: 0...0
            case .pcieToPCIBridge?, .pciRoot?, .pcieRoot?, .pciBridge?: 1...31
            case .dmiToPCIBridge?, .pcieSwitchUpstreamPort?, .pciExpanderBus?, .pcieExpanderBus?, nil: 0...31
            }
        }

        func accepts(_ connection: Connection) -> Bool {
            guard let model else { return false }
            return switch (model, connection) {
            case (.pciRoot, .pci), (.pciRoot, .pciBridge), (.pciRoot, .pciExpanderBus),
                (.pciBridge, .pci), (.pciBridge, .pciBridge), (.pciExpanderBus, .pci), (.pciExpanderBus, .pciBridge),
                (.pcieToPCIBridge, .pci), (.pcieToPCIBridge, .pciBridge), (.dmiToPCIBridge, .pciBridge),
                (.pcieRoot, .rootPort), (.pcieRoot, .pcieIntegrated), (.pcieRoot, .dmiToPCIBridge), (.pcieRoot, .pcieExpanderBus),
                (.pcieRootPort, .pcie), (.pcieRootPort, .pcieIntegrated), (.pcieRootPort, .pcieToPCIBridge), (.pcieRootPort, .switchUpstreamPort),
                (.pcieSwitchDownstreamPort, .pcie), (.pcieSwitchDownstreamPort, .pcieToPCIBridge), (.pcieSwitchDownstreamPort, .switchUpstreamPort),
                (.pcieSwitchUpstreamPort, .switchDownstreamPort), (.pcieExpanderBus, .rootPort), (.pcieExpanderBus, .dmiToPCIBridge):
                true
            default: false
            }
        }

        /// Whether a controller whose address the XML gives may sit on this bus (libvirt's
        /// `fromConfig` rule: a PCI bridge may also go where a device may).
        func acceptsGiven(_ connection: Connection) -> Bool {
            guard connection == .pciBridge else { return accepts(connection) }
            return accepts(.pciBridge) || model == .pcieRoot || model?.isPCIePort == true
        }
    }

    /// The working state: the buses (by controller index) and the devices' elements.
    struct State {
        var buses: [Int: Bus] = [:]
        var devices: XMLElement
        let q35: Bool
        /// The slot the USB 2 companions of each controller index share.
        var usb2Slots: [Int: DomainDefinition.PCIAddress] = [:]
        /// Positions in `devices` where controllers were inserted (callers holding positions shift them).
        var insertions: [Int] = []
        /// The first pass, which finds the buses the devices need: a PCI bridge it adds may
        /// find no slot yet (the second pass places the controllers first).
        var findsBuses = false

        /// `position` after the insertions since `mark`.
        func shifted(_ position: Int, since mark: Int) -> Int {
            var position = position
            for inserted in insertions[mark...] where inserted <= position { position += 1 }
            return position
        }

        mutating func isUsed(_ address: DomainDefinition.PCIAddress) -> Bool {
            guard let bus = buses[Int(address.bus)], address.slot < 32, address.function < 8 else { return false }
            return bus.functions[Int(address.slot)] & (1 << UInt8(address.function)) != 0
        }

        mutating func reserve(_ address: DomainDefinition.PCIAddress, aggregate: Bool = false) {
            guard buses[Int(address.bus)] != nil, address.slot < 32, address.function < 8 else { return }
            buses[Int(address.bus)]!.functions[Int(address.slot)] |= 1 << UInt8(address.function)
            if aggregate { buses[Int(address.bus)]!.aggregate[Int(address.slot)] = true }
        }

        /// The first free place for `connection`, bus by bus in index order.
        func findFree(_ connection: Connection) -> DomainDefinition.PCIAddress? {
            for index in buses.keys.sorted() {
                let bus = buses[index]!
                guard bus.accepts(connection) else { continue }
                for slot in bus.slots {
                    if bus.functions[slot] == 0 { return .init(bus: UInt32(index), slot: UInt32(slot)) }
                    if connection == .rootPort && bus.aggregate[slot], let function = (0..<8).first(where: { bus.functions[slot] & (1 << UInt8($0)) == 0 }) {
                        return .init(bus: UInt32(index), slot: UInt32(slot), function: UInt32(function))
                    }
                }
            }
            return nil
        }
    }

    /// Assigns the addresses in `devices` (a normalised `<devices>`) for `machine`, in libvirt's
    /// two passes: a first one finds the buses the devices need (root ports, bridges); they are
    /// added, and the second pass places the PCI controllers first, in index order, then the
    /// devices — so a PCIe-to-PCI bridge takes the first root port, as in libvirt. When the
    /// first pass added only root ports, the second would give the same result (root ports are
    /// the only devices of the root bus, placed in the same order either way), so it is skipped.
    static func assign(_ devices: inout XMLElement, machine: String) throws(DomainXMLError) {
        guard let chipset = Chipset(machine: machine) else { return }
        let q35 = chipset == .q35
        let allControllers = controllers(in: devices)
        // libvirt's post-parse checks, made before its assignment.
        for entry in allControllers where entry.element[attribute: "type"] == "pci" {
            switch entry.element[attribute: "model"].flatMap(PCIControllerModel.init(rawValue:)) {
            case .pciExpanderBus? where q35:
                throw DomainXMLError(.unsupported, "pci-expander-bus controllers are only supported on 440fx-based machinetypes")
            case .pcieExpanderBus? where !q35:
                throw DomainXMLError(.unsupported, "pcie-expander-bus controllers are not supported with this machine type")
            default: break
            }
        }
        let originalPCIControllers = allControllers.filter { $0.element[attribute: "type"] == "pci" && $0.index > 0 }
        var firstPass = devices
        let spare = try assignPass(&firstPass, q35: q35, addsSpare: originalPCIControllers.isEmpty, findsBuses: true)
        let known = Set(originalPCIControllers.map(\.index))
        let added = controllers(in: firstPass).filter { $0.element[attribute: "type"] == "pci" && $0.index > 0 && !known.contains($0.index) && $0.index != spare }
        // An integrated endpoint shares the root bus with the root ports, so the order they are
        // placed in matters: then the second pass runs too.
        let integrated = devices.children.contains { node in
            guard case .element(let e) = node, e.name == "iommu", e.namespace == nil else { return false }
            return connection(of: e, q35: q35) == .pcieIntegrated
        }
        guard added.contains(where: { $0.element[attribute: "model"] != "pcie-root-port" }) || (integrated && !added.isEmpty) else {
            devices = firstPass
            return
        }
        var second = devices
        for controller in added {
            let position = (lastControllerPosition(in: second) ?? second.children.count - 1) + 1
            let attributes: [(String, String)] = [("type", "pci"), ("index", String(controller.index)), ("model", controller.element[attribute: "model"] ?? "")]
            second.children.insert(.element(DomainNormalizer.element("controller", attributes)), at: position)
        }
        try assignPass(&second, q35: q35, addsSpare: originalPCIControllers.isEmpty)
        devices = second
    }

    /// One pass of the assignment; `addsSpare`: add libvirt's spare root port when it is full.
    /// Returns the spare root port's index, if it added one.
    @discardableResult
    static func assignPass(_ devices: inout XMLElement, q35: Bool, addsSpare: Bool, findsBuses: Bool = false) throws(DomainXMLError) -> Int? {
        var state = State(devices: devices, q35: q35)
        state.findsBuses = findsBuses
        for controller in controllers(in: devices) where controller.element[attribute: "type"] == "pci" {
            // A PCI bus number is 0-255; another index is refused by the range checks, not used here.
            guard (0...255).contains(controller.index) else { continue }
            state.buses[controller.index] = Bus(model: controller.element[attribute: "model"].flatMap(PCIControllerModel.init(rawValue:)))
        }
        guard state.buses[0] != nil else { return nil }
        try reserveGiven(&state)
        reserveChipset(&state)

        // PCI controllers without an address, in index order, then the devices in libvirt's order.
        let pending = controllers(in: state.devices).sorted(by: { $0.index < $1.index })
            .filter { $0.element[attribute: "type"] == "pci" && $0.index > 0 && !hasAddress($0.element) }.map(\.position)
            + devicePositions(in: state.devices)
        let mark = state.insertions.count
        for original in pending {
            let position = state.shifted(original, since: mark)
            guard case .element(let element) = state.devices.children[position], !hasAddress(element) else { continue }
            let isPCIController = element.name == "controller" && element[attribute: "type"] == "pci"
            guard let connection = isPCIController ? connection(ofController: element) : connection(of: element, q35: q35) else { continue }
            let before = state.insertions.count
            let address: DomainDefinition.PCIAddress
            if let function = usb2Function(element) {
                // USB 2 companions of one index share a slot, each at its model's function.
                let index = Int(element[attribute: "index"] ?? "0") ?? 0
                if let slot = state.usb2Slots[index] {
                    address = .init(bus: slot.bus, slot: slot.slot, function: function)
                    state.reserve(address)
                } else {
                    address = try place(&state, connection, device: element.name)
                    state.usb2Slots[index] = address
                    state.reserve(.init(bus: address.bus, slot: address.slot, function: function))
                }
                setAddress(&state, position: state.shifted(position, since: before), .init(bus: address.bus, slot: address.slot, function: function))
                continue
            }
            address = try place(&state, connection, device: element.name)
            setAddress(&state, position: state.shifted(position, since: before), address)
        }
        // A spare root port for hot-plug when libvirt added controllers to a definition that named none.
        var spare: Int?
        if q35 && addsSpare && state.buses.count > 1 && state.findFree(.pcie) == nil {
            spare = try addRootPort(&state)
        }
        try assignExpanderBusNumbers(&state)
        finish(&state)
        devices = state.devices
        return spare
    }

    // MARK: - Reading the devices

    struct ControllerEntry {
        var position: Int
        var index: Int
        var element: XMLElement
    }

    static func controllers(in devices: XMLElement) -> [ControllerEntry] {
        devices.children.indices.compactMap { position in
            guard case .element(let element) = devices.children[position], element.name == "controller", element.namespace == nil else { return nil }
            return ControllerEntry(position: position, index: Int(element[attribute: "index"] ?? "0") ?? 0, element: element)
        }
    }

    /// Where the last `<controller>` is (without copying the controllers, as
    /// ``controllers(in:)`` does).
    static func lastControllerPosition(in devices: XMLElement) -> Int? {
        devices.children.lastIndex { if case .element(let e) = $0, e.name == "controller", e.namespace == nil { true } else { false } }
    }

    static func hasAddress(_ element: XMLElement) -> Bool { element.element(named: "address") != nil }

    /// The positions of the devices to place, in libvirt's order.
    static func devicePositions(in devices: XMLElement) -> [Int] {
        // One look at each device (not one pass per kind), then a stable sort by kind.
        var ranked: [(rank: Int, position: Int)] = []
        for position in devices.children.indices {
            guard case .element(let element) = devices.children[position], element.namespace == nil,
                let rank = placementOrder.firstIndex(of: element.name)
            else { continue }
            if element.name == "controller" && element[attribute: "type"] == "pci" { continue }
            ranked.append((rank, position))
        }
        return ranked.sorted { ($0.rank, $0.position) < ($1.rank, $1.position) }.map(\.position)
    }

    /// The kinds of device in the order libvirt places them.
    static let placementOrder = [
        "filesystem", "interface", "sound", "controller", "disk", "hostdev", "memballoon", "rng", "watchdog", "video", "shmem", "serial", "input", "iommu", "vsock", "memory", "crypto", "panic", "pstore",
    ]

    /// Where a PCI controller plugs in.
    static func connection(ofController element: XMLElement) -> Connection? {
        switch element[attribute: "model"].flatMap(PCIControllerModel.init(rawValue:)) {
        case .pcieRootPort: .rootPort
        case .pcieToPCIBridge: .pcieToPCIBridge
        case .pciBridge: .pciBridge
        case .dmiToPCIBridge: .dmiToPCIBridge
        case .pcieSwitchUpstreamPort: .switchUpstreamPort
        case .pcieSwitchDownstreamPort: .switchDownstreamPort
        case .pciExpanderBus: .pciExpanderBus
        case .pcieExpanderBus: .pcieExpanderBus
        case .pciRoot, .pcieRoot, nil: nil
        }
    }

    /// Where a device plugs in, or `nil` when it is no PCI device (or not one Corral places).
    static func connection(of element: XMLElement, q35: Bool) -> Connection? {
        func kind(_ pcie: Bool) -> Connection { q35 && pcie ? .pcie : .pci }
        switch element.name {
        case "filesystem":
            return kind(element[attribute: "model"] != "virtio-transitional")
        case "interface":
            guard element[attribute: "type"] != "hostdev" else { return nil }
            let model = element.element(named: "model")?[attribute: "type"] ?? "virtio"
            // A transitional virtio NIC works in a conventional PCI slot only.
            return kind((model.hasPrefix("virtio") && model != "virtio-transitional") || model == "e1000e" || model == "igb")
        case "sound":
            switch element[attribute: "model"] {
            case "ich9": return kind(true)
            case "ich6", "ac97", "es1370": return kind(false)
            default: return nil
            }
        case "controller":
            let model = element[attribute: "model"]
            switch element[attribute: "type"] {
            case "usb":
                switch model {
                case "none"?: return nil
                case "qemu-xhci"?, "nec-xhci"?: return kind(true)
                default: return kind(false)
                }
            case "scsi":
                switch model {
                case nil, "virtio-scsi"?, "virtio-non-transitional"?: return kind(true)
                case "virtio-transitional"?: return kind(false)
                case "lsilogic"?, "lsisas1068"?, "lsisas1078"?, "vmpvscsi"?, "am53c974"?, "dc390"?: return kind(false)
                default: return nil
                }
            case "virtio-serial": return kind(model != "virtio-transitional")
            default: return nil
            }
        case "disk":
            return element.element(named: "target")?[attribute: "bus"] == "virtio" ? kind(element[attribute: "model"] != "virtio-transitional") : nil
        case "memballoon", "rng":
            // Transitional virtio devices work in conventional PCI slots only.
            guard let model = element[attribute: "model"], model.hasPrefix("virtio") else { return nil }
            return kind(model != "virtio-transitional")
        case "watchdog":
            return element[attribute: "model"] == "i6300esb" ? kind(false) : nil
        case "video":
            switch element.element(named: "model")?[attribute: "type"] {
            case "none"?, "ramfb"?: return nil
            case "virtio"?: return kind(true)
            default: return kind(false)
            }
        case "input":
            return element[attribute: "bus"] == "virtio" ? kind(true) : nil
        case "hostdev":
            // A PCI function, or a mediated device QEMU makes a vfio-pci device of (libvirt
            // takes every mdev for PCI Express).
            let type = element[attribute: "type"]
            // A vhost-scsi controller follows virtio's rule (a transitional one is conventional PCI).
            if type == "scsi_host" { return kind(element[attribute: "model"] != "virtio-transitional") }
            return type == "pci" || (type == "mdev" && element[attribute: "model"] == "vfio-pci") ? kind(true) : nil
        case "shmem", "pstore":
            return kind(false)
        case "panic":
            // pvpanic-pci is a conventional PCI device; the other models are not PCI devices.
            return element[attribute: "model"] == "pvpanic" ? kind(false) : nil
        case "vsock":
            // A transitional device works in a conventional PCI slot only.
            return kind(element[attribute: "model"] != "virtio-transitional")
        case "crypto":
            return kind(true)
        case "iommu":
            return q35 && element[attribute: "model"] == "virtio" ? .pcieIntegrated : nil
        case "memory":
            return element[attribute: "model"] == "virtio-mem" || element[attribute: "model"] == "virtio-pmem" ? kind(true) : nil
        case "serial":
            return element.element(named: "target")?[attribute: "type"] == "pci-serial" ? kind(false) : nil
        default:
            return nil
        }
    }

    /// libvirt's function for each USB 2 companion model: UHCI1-3 at 0-2, EHCI1 at 7.
    static let usb2Functions: [String: UInt32] = ["ich9-uhci1": 0, "ich9-uhci2": 1, "ich9-uhci3": 2, "ich9-ehci1": 7]

    /// The function of a USB 2 companion controller, `nil` for other devices.
    static func usb2Function(_ element: XMLElement) -> UInt32? {
        guard element.name == "controller", element[attribute: "type"] == "usb", let model = element[attribute: "model"] else { return nil }
        return usb2Functions[model]
    }

    // MARK: - Reservations

    /// Addresses the XML gives: kept, and refused when two devices name one.
    static func reserveGiven(_ state: inout State) throws(DomainXMLError) {
        var seen: Set<String> = []
        for position in state.devices.children.indices {
            guard case .element(let element) = state.devices.children[position], element.namespace == nil,
                let address = try DomainDefinition.PCIAddress(device: element)
            else { continue }
            guard seen.insert(address.description).inserted else {
                throw DomainXMLError(.invalid, line: element.line, "Attempted double use of PCI Address \(address)")
            }
            if element.name == "controller", element[attribute: "type"] == "pci", let connection = connection(ofController: element),
                let bus = state.buses[Int(address.bus)], !bus.acceptsGiven(connection) {
                throw DomainXMLError(.invalid, line: element.line,
                    "The device at PCI address \(address) cannot be plugged into the PCI controller with index='\(address.bus)'. It requires a controller that accepts a \(connection.requirement).")
            }
            state.reserve(address, aggregate: element.name == "controller" && element[attribute: "model"] == "pcie-root-port")
            // Written in full, as libvirt writes an address it read (`bus='0x01'` alone included).
            if let given = element.element(named: "address"), given.attributes.map({ [$0.name, $0.value] }) != address.element.attributes.map({ [$0.name, $0.value] }),
                given[attribute: "multifunction"] != "off" {
                setAddress(&state, position: position, address)
            }
        }
    }

    /// The chipset's own functions and the places libvirt gives its integrated devices.
    static func reserveChipset(_ state: inout State) {
        let primaryVideo = state.devices.children.indices.first { position in
            guard case .element(let e) = state.devices.children[position], e.name == "video", e.namespace == nil else { return false }
            return true
        }
        func assignFixed(_ position: Int, _ address: DomainDefinition.PCIAddress) {
            state.reserve(address)
            setAddress(&state, position: position, address)
        }
        if state.q35 {
            for entry in controllers(in: state.devices) where !hasAddress(entry.element) {
                if entry.element[attribute: "type"] == "sata" && entry.index == 0 { assignFixed(entry.position, .init(bus: 0, slot: 0x1f, function: 2)) }
                // A DMI-to-PCI bridge at 00:1e.0, its place on real hardware, when that slot is free.
                if entry.element[attribute: "type"] == "pci" && entry.element[attribute: "model"] == "dmi-to-pci-bridge",
                    (0..<8).allSatisfy({ !state.isUsed(.init(bus: 0, slot: 0x1e, function: $0)) }) {
                    assignFixed(entry.position, .init(bus: 0, slot: 0x1e))
                }
            }
            // ICH9 USB 2 companions at 00:1d (or 00:1a): UHCI1-3 at functions 0-2, EHCI1 at 7 —
            // for an index with a UHCI1 (libvirt's rule; a lone EHCI1 is placed like any device).
            var usb2Slots: [Int: UInt32] = [:]
            let usbControllers = controllers(in: state.devices).filter { $0.element[attribute: "type"] == "usb" && !hasAddress($0.element) }
            let withUHCI1 = Set(usbControllers.filter { $0.element[attribute: "model"] == "ich9-uhci1" }.map(\.index))
            for entry in usbControllers where withUHCI1.contains(entry.index) {
                guard let model = entry.element[attribute: "model"], let function = usb2Functions[model] else { continue }
                if usb2Slots[entry.index] == nil {
                    guard let slot = ([0x1d, 0x1a] as [UInt32]).first(where: { slot in (0..<8).allSatisfy { !state.isUsed(.init(bus: 0, slot: slot, function: $0)) } }) else { continue }
                    usb2Slots[entry.index] = slot
                }
                assignFixed(entry.position, .init(bus: 0, slot: usb2Slots[entry.index]!, function: function))
            }
            state.reserve(.init(bus: 0, slot: 0x1f, function: 0))
            state.reserve(.init(bus: 0, slot: 0x1f, function: 3))
            if let position = primaryVideo, case .element(let video) = state.devices.children[position], !hasAddress(video),
                connection(of: video, q35: true) != nil, !state.isUsed(.init(bus: 0, slot: 1)) {
                assignFixed(position, .init(bus: 0, slot: 1))
            }
            if let position = state.devices.children.indices.first(where: { position in
                guard case .element(let e) = state.devices.children[position], e.name == "sound", e.namespace == nil else { return false }
                return true
            }), case .element(let sound) = state.devices.children[position], sound[attribute: "model"] == "ich9", !hasAddress(sound),
                !state.isUsed(.init(bus: 0, slot: 0x1b)) {
                assignFixed(position, .init(bus: 0, slot: 0x1b))
            }
        } else {
            for entry in controllers(in: state.devices) where entry.index == 0 && !hasAddress(entry.element) {
                let type = entry.element[attribute: "type"], model = entry.element[attribute: "model"]
                if type == "ide" { assignFixed(entry.position, .init(bus: 0, slot: 1, function: 1)) }
                if type == "usb" && (model == nil || model == "piix3-uhci") { assignFixed(entry.position, .init(bus: 0, slot: 1, function: 2)) }
            }
            state.reserve(.init(bus: 0, slot: 1, function: 0))
            state.reserve(.init(bus: 0, slot: 1, function: 3))
            if let position = primaryVideo, case .element(let video) = state.devices.children[position], !hasAddress(video),
                connection(of: video, q35: false) != nil, !state.isUsed(.init(bus: 0, slot: 2)) {
                assignFixed(position, .init(bus: 0, slot: 2))
            }
        }
    }

    // MARK: - Placing

    /// The first free place for `connection`, adding controllers as libvirt adds them.
    static func place(_ state: inout State, _ connection: Connection, device: String) throws(DomainXMLError) -> DomainDefinition.PCIAddress {
        if let address = state.findFree(connection) {
            state.reserve(address, aggregate: connection == .rootPort)
            return address
        }
        switch (state.q35, connection) {
        case (true, .pcie), (true, .pcieIntegrated), (true, .pcieToPCIBridge), (true, .switchUpstreamPort):
            let port = try addRootPort(&state)
            let address = DomainDefinition.PCIAddress(bus: UInt32(port), slot: 0)
            state.reserve(address)
            return address
        case (false, .pci), (true, .pci) where state.buses.values.contains(where: { $0.accepts(.pciBridge) }):
            // A guest with a conventional PCI bus gets one more PCI bridge (libvirt's
            // virDomainPCIAddressSetGrow); in the first pass it may wait for its own slot.
            var bridgeAddress = state.findFree(.pciBridge)
            if let bridgeAddress {
                state.reserve(bridgeAddress)
            } else if !state.findsBuses {
                bridgeAddress = try place(&state, .pciBridge, device: "controller")
            }
            let bridge = try addController(&state, model: .pciBridge, at: bridgeAddress)
            let address = DomainDefinition.PCIAddress(bus: UInt32(bridge), slot: 1)
            state.reserve(address)
            return address
        case (_, .rootPort), (_, .dmiToPCIBridge), (_, .switchDownstreamPort), (_, .pciExpanderBus), (_, .pcieExpanderBus):
            throw DomainXMLError(.unsupported,
                "a PCI slot is needed to connect a PCI controller model='\(connection.requirement)', but none is available, and it cannot be automatically added")
        case (true, .pci):
            let bridgeAddress = try place(&state, .pcieToPCIBridge, device: "controller")
            let bridge = try addController(&state, model: .pcieToPCIBridge, at: bridgeAddress)
            let address = DomainDefinition.PCIAddress(bus: UInt32(bridge), slot: 1)
            state.reserve(address)
            return address
        default:
            throw DomainXMLError(.unsupported, "No more available PCI slots for the \(device)")
        }
    }

    /// A new PCIe root port, placed on the root bus; its index.
    @discardableResult
    static func addRootPort(_ state: inout State) throws(DomainXMLError) -> Int {
        guard let address = state.findFree(.rootPort) else { throw DomainXMLError(.unsupported, "No more available PCI slots for a pcie-root-port") }
        state.reserve(address, aggregate: true)
        return try addController(&state, model: .pcieRootPort, at: address)
    }

    /// A new PCI controller at `address`, after the last controller (libvirt appends the
    /// controllers it adds); its index.
    static func addController(_ state: inout State, model: PCIControllerModel, at address: DomainDefinition.PCIAddress?) throws(DomainXMLError) -> Int {
        let index = (state.buses.keys.max() ?? 0) + 1
        guard index <= 255 else { throw DomainXMLError(.unsupported, "No more available PCI slots: every PCI bus number is in use") }
        state.buses[index] = Bus(model: model)
        var element = DomainNormalizer.element("controller", [("type", "pci"), ("index", String(index)), ("model", model.rawValue)])
        if let address { element.children.append(.element(address.element)) }
        let last = lastControllerPosition(in: state.devices) ?? state.devices.children.count - 1
        state.devices.children.insert(.element(element), at: last + 1)
        state.insertions.append(last + 1)
        return index
    }

    static func setAddress(_ state: inout State, position: Int, _ address: DomainDefinition.PCIAddress) {
        state.devices.updateElement(at: position) { element in
            element.children.removeAll { if case .element(let e) = $0, e.name == "address", e.namespace == nil { true } else { false } }
            // libvirt writes the virtio options' <driver> of a balloon and a vsock after the address.
            let driverLast = ["memballoon", "vsock"].contains(element.name)
                ? element.children.lastIndex { if case .element(let e) = $0, e.name == "driver", e.namespace == nil { true } else { false } } : nil
            element.children.insert(.element(address.element), at: driverLast ?? element.children.count)
        }
    }

    // MARK: - Finishing

    /// libvirt's default `<target busNr>` of an expander bus (`qemuDomainAddressFindNewBusNr`):
    /// two below the lowest bus number of the guest's PCI controllers so far (one for the
    /// expander's root bus, one for the bridge inside it), leaving the numbers below for the
    /// buses of the main root bus; 254 for the first.
    static func assignExpanderBusNumbers(_ state: inout State) throws(DomainXMLError) {
        guard state.buses.values.contains(where: { $0.model?.isExpanderBus == true }) else { return }
        let entries = controllers(in: state.devices).filter { $0.element[attribute: "type"] == "pci" }
        func busNumber(_ element: XMLElement) -> Int? { element.element(named: "target")?[attribute: "busNr"].flatMap { Int($0) } }
        var lowest = entries.compactMap { busNumber($0.element) }.min() ?? 256
        for entry in entries where busNumber(entry.element) == nil {
            guard entry.element[attribute: "model"].flatMap(PCIControllerModel.init(rawValue:))?.isExpanderBus == true else { continue }
            guard lowest > 2 else {
                let bus = (try? DomainDefinition.PCIAddress(device: entry.element))?.bus ?? 0
                throw DomainXMLError(.unsupported, "No free busNr lower than current lowest busNr is available to auto-assign to bus \(bus). Must be manually assigned")
            }
            lowest -= 2
            let number = String(lowest)
            state.devices.updateElement(at: entry.position) { element in
                if element.element(named: "target") != nil {
                    element.updateElements { if $0.name == "target" && $0.namespace == nil { $0[attribute: "busNr"] = number } }
                } else {
                    let after = element.children.firstIndex { if case .element(let e) = $0, e.name == "model", e.namespace == nil { true } else { false } }.map { $0 + 1 } ?? 0
                    element.children.insert(.element(DomainNormalizer.element("target", [("busNr", number)])), at: after)
                }
            }
        }
    }

    /// Multifunction on function 0 of shared slots; root ports' and bridges' model names and
    /// targets.
    static func finish(_ state: inout State) {
        let buses = state.buses
        for position in state.devices.children.indices {
            state.devices.updateElement(at: position) { element in
                guard element.namespace == nil, let address = try? DomainDefinition.PCIAddress(device: element) else { return }
                var changed = false
                if address.function == 0, !address.multifunction, let bus = buses[Int(address.bus)], address.slot < 32,
                    bus.functions[Int(address.slot)] & ~UInt8(1) != 0 {
                    var multi = address
                    multi.multifunction = true
                    element.children.removeAll { if case .element(let e) = $0, e.name == "address", e.namespace == nil { true } else { false } }
                    element.children.append(.element(multi.element))
                    changed = true
                }
                if element.name == "controller", element[attribute: "type"] == "pci" {
                    let index = Int(element[attribute: "index"] ?? "0") ?? 0
                    let model = element[attribute: "model"].flatMap(PCIControllerModel.init(rawValue:))
                    if let modelName = model?.defaultModelName, element.element(named: "model") == nil {
                        element.children.insert(.element(DomainNormalizer.element("model", [("name", modelName)])), at: 0)
                        changed = true
                    }
                    // A PCI bridge's chassis number: its index unless given (libvirt's default).
                    if element[attribute: "model"] == "pci-bridge" && element.element(named: "target")?[attribute: "chassisNr"] == nil {
                        if element.element(named: "target") == nil {
                            element.children.append(.element(DomainNormalizer.element("target", [("chassisNr", String(index))])))
                        } else {
                            element.updateElements { if $0.name == "target" && $0.namespace == nil { $0[attribute: "chassisNr"] = String(index) } }
                        }
                        changed = true
                    }
                    if model?.isPCIePort == true {
                        var target = element.element(named: "target") ?? DomainNormalizer.element("target")
                        if target[attribute: "chassis"] == nil { target[attribute: "chassis"] = String(index) }
                        // libvirt's default port: a root port's slot and function, a downstream port's slot.
                        let port = model == .pcieRootPort ? address.slot << 3 + address.function : address.slot
                        if target[attribute: "port"] == nil { target[attribute: "port"] = "0x" + String(port, radix: 16) }
                        DomainNormalizer.orderAttributes(&target, ["chassisNr", "chassis", "port", "busNr", "hotplug"])
                        element.children.removeAll { if case .element(let e) = $0, e.name == "target", e.namespace == nil { true } else { false } }
                        let after = element.children.firstIndex { if case .element(let e) = $0, e.name == "model" { true } else { false } }.map { $0 + 1 } ?? 0
                        element.children.insert(.element(target), at: after)
                        changed = true
                    }
                }
                if changed {
                    element.children = DomainNormalizer.ordered(element.children, by: ["driver", "source", "model", "target", "alias", "address"])
                }
            }
        }
    }
}
