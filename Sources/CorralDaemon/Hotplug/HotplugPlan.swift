import CorralProtocol
import DomainXML
import QEMUCommandLine
import XMLTree

/// What a device about to be hot-plugged becomes in the running guest's document: libvirt's
/// alias for it (unless the client gave a `ua-` one), its block nodes' number, and on a q35
/// guest a free PCIe root port. Pure: it reads the live document and decides.
struct HotplugPlan {
    /// The device element as the live document will hold it.
    var element: XMLElement
    /// The live document with it.
    var live: ParsedDomain
    /// The QEMU device it becomes.
    var device: QEMUHotplug.Device
    /// Its alias.
    var alias: String

    /// Plans `device` (a parsed device element) for the guest whose live document is `live`.
    /// `usedNodeNumbers`: block node numbers used up before the disk's are given (libvirt
    /// numbers the layers it finds in a plugged disk's headers once, then the disk's whole chain
    /// again after them).
    init(_ requested: XMLElement, live: ParsedDomain, devices: GuestDevices, options: DomainXMLOptions, usedNodeNumbers: UInt32 = 0) throws(RemoteError) {
        let definition = live.definition
        let kind = requested.name
        if kind == "disk", let target = requested.element(named: "target")?[attribute: "dev"], definition.devices.disks.contains(where: { $0.targetDevice == target }) {
            throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "target \(target) already exists")
        }
        // The device as a definition holds it (defaults filled in): the last of its kind once
        // inserted.
        let trial = try Self.parse(DeviceXML.inserting(requested, into: live.document), options: options)
        // (A controller is the last of its type: the assignment appends any bus it adds after it.)
        let candidates = DeviceXML.devices(named: kind, in: trial.document)
        guard var element = kind == "controller" ? candidates.last(where: { $0[attribute: "type"] == requested[attribute: "type"] }) : candidates.last else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "the new \(kind) device is not in the document")
        }
        // The address the define-time assignment gave it is a cold-plug one (it may name a root
        // port it would add): a running guest's device goes where a free slot is, decided below.
        if requested.element(named: "address") == nil {
            // (A DIMM's slot and a USB device's port are no PCI addresses: the define-time
            // assignment's lowest free ones stay.)
            element.children.removeAll {
                if case .element(let e) = $0, e.name == "address", e.namespace == nil, !["dimm", "usb"].contains(e[attribute: "type"] ?? "") { true } else { false }
            }
        }
        let usedAliases = Set(definition.devices.aliases)
        let given = element.element(named: "alias")?[attribute: "name"]
        var needsPCISlot = true
        switch kind {
        case "disk":
            guard let disk = trial.definition.devices.disks.last else { throw RemoteError(code: .internalError, domain: .qemu, detail: "no disk") }
            switch disk.targetBus {
            case .virtio: break
            case .scsi: needsPCISlot = false
            default: throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "disk bus '\(disk.targetBus.rawValue)' cannot be hotplugged.")
            }
            if disk.device == .cdrom && disk.targetBus != .scsi {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "cdrom device with bus '\(disk.targetBus.rawValue)' cannot be hotplugged.")
            }
            alias = given ?? GuestDevices.generatedAlias(of: disk, position: definition.devices.disks.count, lsiController: trial.definition.devices.isLSIController(of: disk))
            if disk.targetBus == .scsi, !definition.devices.disks.contains(where: { $0.targetBus == .scsi }),
                !definition.devices.controllers.contains(where: { $0.type == .scsi }) {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "the guest has no SCSI controller for \(disk.targetDevice): attach a <controller type='scsi' model='virtio-scsi'/> first")
            }
            if element.element(named: "source") != nil {
                let index = devices.nextNodeIndex &+ min(usedNodeNumbers, 256)
                element.updateElements { if $0.name == "source" && $0.namespace == nil { $0[attribute: "index"] = String(index) } }
                // A described backing chain's layers take the numbers after the image's.
                LiveDomainXML.numberBackingChain(&element, from: index &+ 1)
            }
            device = .disk(definition.devices.disks.count)
        case "interface":
            alias = given ?? GuestDevices.firstFreeAlias("net", used: usedAliases)
            device = .interface(definition.devices.interfaces.count)
        case "rng":
            alias = given ?? GuestDevices.firstFreeAlias("rng", used: usedAliases)
            device = .rng(definition.devices.rngs.count)
        case "controller":
            let type = element[attribute: "type"] ?? ""
            guard type == "scsi" else {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "'\(type)' controller cannot be hot plugged.")
            }
            let index = element[attribute: "index"] ?? "0"
            if definition.devices.controllers.contains(where: { $0.type == .scsi && String($0.index) == index }) {
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "target scsi:\(index) already exists")
            }
            alias = given ?? "scsi\(index)"
            // The new element is the last controller (positions count every controller).
            device = .scsiController(definition.devices.controllers.count)
        case "channel" where element.element(named: "target")?[attribute: "type"] == "guestfwd":
            // A user-mode network of its own ending in the channel's chardev: no bus, no address.
            alias = given ?? GuestDevices.firstFreeAlias("channel", used: usedAliases)
            needsPCISlot = false
            device = .channel(definition.devices.channels.count)
        case "channel":
            guard element.element(named: "target")?[attribute: "type"] == "virtio" else {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "only virtio and guestfwd channels can be hot plugged")
            }
            guard definition.devices.channels.contains(where: { $0.targetType == "virtio" }) || definition.devices.consoles.contains(where: { $0.targetType == "virtio" })
            else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "the guest has no virtio-serial controller for the channel: define it with a virtio channel or console")
            }
            alias = given ?? GuestDevices.firstFreeAlias("channel", used: usedAliases)
            // The next free port of the virtio-serial bus (the console's is 0).
            let ports = definition.devices.channels.enumerated().map { $0.element.port ?? $0.offset + 1 }
            element.children.removeAll { if case .element(let e) = $0, e.name == "address" { true } else { false } }
            element.children.append(.element(XMLElement(name: "address", attributes: [
                XMLAttribute(name: "type", value: "virtio-serial"), XMLAttribute(name: "controller", value: "0"), XMLAttribute(name: "bus", value: "0"),
                XMLAttribute(name: "port", value: String((ports.max() ?? 0) + 1)),
            ])))
            needsPCISlot = false
            device = .channel(definition.devices.channels.count)
        case "memory":
            guard let memory = trial.definition.devices.memoryDevices.last else { throw RemoteError(code: .internalError, domain: .qemu, detail: "no memory device") }
            // libvirt's qemuDomainDefValidateMemoryHotplug: the slots, the room under <maxMemory>.
            do throws(DomainXMLError) {
                try DefinitionChecks.check(trial.definition, spiceTLS: options.spiceTLS)
            } catch {
                throw RemoteError(domainXMLError: error)
            }
            // DIMMs are named by their slot, virtio devices by the first free number.
            if let given {
                alias = given
            } else if memory.model.takesSlot, let slot = memory.slot {
                alias = memory.model.alias(slot: slot, number: 0)
            } else {
                alias = GuestDevices.firstFreeAlias(memory.model.aliasStem, used: usedAliases)
            }
            needsPCISlot = !memory.model.takesSlot
            device = .memory(definition.devices.memoryDevices.count)
        case "input":
            // libvirt's qemuDomainAttachInputDevice: USB (on a free port) and virtio inputs.
            guard let input = trial.definition.devices.inputs.last, input.bus == .usb || input.bus == .virtio else {
                let bus = element[attribute: "bus"] ?? "ps2"
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "input device on bus '\(bus)' cannot be hot plugged.")
            }
            alias = given ?? GuestDevices.nextAlias("input", after: usedAliases)
            needsPCISlot = input.bus == .virtio
            device = .input(definition.devices.inputs.count)
        case "watchdog":
            // libvirt's qemuDomainAttachWatchdog: one watchdog, an i6300esb.
            guard definition.devices.watchdogs.isEmpty else {
                throw RemoteError(code: .operationInvalid, domain: .qemu, detail: "domain already has a watchdog")
            }
            guard let watchdog = trial.definition.devices.watchdogs.last, watchdog.model == .i6300esb else {
                throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "hotplug of watchdog of model \(element[attribute: "model"] ?? "") is not supported")
            }
            alias = given ?? "watchdog0"
            // A conventional PCI device: on q35 a free slot of a PCIe-to-PCI bridge the guest
            // has (the address assignment below finds it), as libvirt places it.
            needsPCISlot = false
            device = .watchdog(definition.devices.watchdogs.count)
        case "hostdev":
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "host device assignment (<hostdev>) is not supported by Corral")
        default:
            throw RemoteError(code: .operationUnsupported, domain: .qemu, detail: "live attach of device '\(kind)' is not supported")
        }
        if trial.unmodelled.count > live.unmodelled.count {
            let new = trial.unmodelled.filter { !live.unmodelled.contains($0) }
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "the device uses XML that Corral does not model: \(new.joined(separator: "; "))")
        }
        if given == nil { LiveDomainXML.setAlias(&element, alias) }
        if needsPCISlot, (definition.os.machine ?? "").contains("q35"), element.element(named: "address") == nil {
            guard let port = Self.freeRootPort(in: live.document, definition: definition) else {
                throw RemoteError(
                    code: .operationFailed, domain: .qemu,
                    detail: "No more available PCI slots: a q35 guest takes hot-plugged devices on free PCIe root ports; add <controller type='pci' model='pcie-root-port'/> to its definition")
            }
            element.children.append(.element(DomainDefinition.PCIAddress(bus: port, slot: 0).element))
        }
        self.element = element
        self.live = try Self.parse(DeviceXML.inserting(element, into: live.document), options: options)
        // A bus the assignment would add for the device cannot be plugged in with it.
        if self.live.definition.devices.controllers.count > definition.devices.controllers.count + (kind == "controller" ? 1 : 0) {
            throw RemoteError(code: .operationFailed, domain: .qemu, detail: "No more available PCI slots")
        }
        // The element as placed, when the assignment gave it its address.
        if element.element(named: "address") == nil,
            let placed = DeviceXML.devices(named: kind, in: self.live.document).last(where: { $0.element(named: "alias")?[attribute: "name"] == alias }) {
            self.element = placed
        }
    }

    static func parse(_ document: XMLElement, options: DomainXMLOptions) throws(RemoteError) -> ParsedDomain {
        do throws(DomainXMLError) {
            return try DomainXMLParser.parse(document, options: options)
        } catch {
            throw RemoteError(domainXMLError: error)
        }
    }

    /// A PCIe port (a root port or a switch's downstream port) no device sits on, the lowest
    /// index first: every PCI address in the live document counts (the addresses assigned at
    /// define included).
    static func freeRootPort(in document: XMLElement, definition: DomainDefinition) -> UInt32? {
        var used = Set<UInt32>()
        for device in document.element(named: "devices")?.elements ?? [] {
            if let address = try? DomainDefinition.PCIAddress(device: device) { used.insert(address.bus) }
        }
        return definition.devices.controllers.filter(\.isPCIePort).map { UInt32($0.index) }.sorted().first { !used.contains($0) }
    }
}
