import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Each interface as a `-netdev` (user or bridge) and its NIC `-device`.
    mutating func addInterfaces() throws(CommandLineError) {
        for index in domain.devices.interfaces.indices { try addInterface(at: index) }
    }

    /// The interface at `index` of the definition: its netdev and its NIC.
    mutating func addInterface(at index: Int) throws(CommandLineError) {
        let interface = domain.devices.interfaces[index]
        let netdev = devices.interfaces[index].netdev
        switch interface.type {
        case .user:
            add("-netdev", json: .object([("type", .string("user")), ("id", .string(netdev))]))
        case .bridge:
            guard let bridge = interface.source else { throw CommandLineError(.unsupported, "bridge interface \(index) has no source bridge") }
            add("-netdev", json: .object([("type", .string("bridge")), ("br", .string(bridge)), ("id", .string(netdev))]))
        default:
            throw CommandLineError(.unsupported, "interface type '\(interface.type.rawValue)' needs host networking that Corral does not manage; use type 'user' or 'bridge'")
        }
        let model = interface.model ?? .virtio
        var members: [(String, JSONValue)] = [
            ("driver", .string(Self.nicDevice(model))), ("netdev", .string(netdev)), ("id", .string(devices.interfaces[index].alias)),
        ]
        if let mac = interface.mac { members.append(("mac", .string(mac))) }
        members += pciPlacement(interface.pciAddress)
        if let boot = bootIndexes.index(for: .network, explicit: interface.bootOrder) { members.append(("bootindex", .integer(Int64(boot)))) }
        addDevice(members)
    }

    /// The QEMU device of a NIC model (libvirt's names; an unknown model is a device type name).
    static func nicDevice(_ model: DomainDefinition.Interface.Model) -> String {
        switch model {
        case .virtio: "virtio-net-pci"
        case .virtioTransitional: "virtio-net-pci-transitional"
        case .virtioNonTransitional: "virtio-net-pci-non-transitional"
        case .e1000, .e1000e, .rtl8139, .ne2kPCI, .pcnet, .igb, .other: model.name
        }
    }
}
