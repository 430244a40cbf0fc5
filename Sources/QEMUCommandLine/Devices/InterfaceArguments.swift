import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Each interface as a `-netdev` (the daemon's tap, user networking, or QEMU's bridge helper)
    /// and its NIC `-device`.
    mutating func addInterfaces() throws(CommandLineError) {
        for index in domain.devices.interfaces.indices { try addInterface(at: index) }
    }

    /// The interface at `index` of the definition: its netdev and its NIC.
    mutating func addInterface(at index: Int) throws(CommandLineError) {
        let interface = domain.devices.interfaces[index]
        let netdev = devices.interfaces[index].netdev
        if let connection = context.interfaceConnections[index], [.network, .bridge, .ethernet].contains(interface.type) {
            // The daemon made the tap and put it on its bridge: QEMU opens it by name.
            add("-netdev", json: .object([
                ("type", .string("tap")), ("ifname", .string(connection.tap)), ("script", .string("no")), ("downscript", .string("no")), ("id", .string(netdev)),
            ]))
        } else {
            try addUnmanagedNetdev(interface, index: index, netdev: netdev)
        }
        let model = interface.model ?? .virtio
        var members: [(String, JSONValue)] = [
            ("driver", .string(Self.nicDevice(model))), ("netdev", .string(netdev)), ("id", .string(devices.interfaces[index].alias)),
        ]
        if let mac = interface.mac { members.append(("mac", .string(mac))) }
        members += pciPlacement(interface.pciAddress)
        if let boot = bootIndexes.index(for: .network, explicit: interface.bootOrder) { members.append(("bootindex", .integer(Int64(boot)))) }
        // The option ROM as libvirt passes it: its BAR, then its file ("" loads none).
        if let bar = interface.romBar { members.append(("rombar", .integer(bar ? 1 : 0))) }
        if let file = interface.romFile { members.append(("romfile", .string(file))) }
        addDevice(members)
    }

    /// The netdev of an interface without a tap from the daemon: user networking, or a bridge
    /// through QEMU's bridge helper (a daemon that is not root cannot make taps).
    private mutating func addUnmanagedNetdev(_ interface: DomainDefinition.Interface, index: Int, netdev: String) throws(CommandLineError) {
        switch interface.type {
        case .user:
            add("-netdev", json: .object([("type", .string("user")), ("id", .string(netdev))]))
        case .bridge:
            guard let bridge = interface.source else { throw CommandLineError(.unsupported, "bridge interface \(index) has no source bridge") }
            add("-netdev", json: .object([("type", .string("bridge")), ("br", .string(bridge)), ("id", .string(netdev))]))
        case .network, .ethernet:
            throw CommandLineError(.unsupported, "interface \(index) of type '\(interface.type.rawValue)' has no host side: the daemon makes its tap")
        default:
            throw CommandLineError(.unsupported, "interface type '\(interface.type.rawValue)' needs host networking that Corral does not manage; use type 'user', 'network', 'bridge' or 'ethernet'")
        }
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
