import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Each interface as a `-netdev` (user or bridge) and its NIC `-device`.
    mutating func addInterfaces() throws(CommandLineError) {
        for (index, interface) in domain.devices.interfaces.enumerated() {
            let netdev = "hostnet\(index)"
            switch interface.type {
            case "user":
                add("-netdev", json: .object([("type", .string("user")), ("id", .string(netdev))]))
            case "bridge":
                guard let bridge = interface.source else { throw CommandLineError(.unsupported, "bridge interface \(index) has no source bridge") }
                add("-netdev", json: .object([("type", .string("bridge")), ("br", .string(bridge)), ("id", .string(netdev))]))
            default:
                throw CommandLineError(.unsupported, "interface type '\(interface.type)' needs host networking that Corral does not manage; use type 'user' or 'bridge'")
            }
            let model = interface.model ?? "virtio"
            var members: [(String, JSONValue)] = [
                ("driver", .string(model == "virtio" ? "virtio-net-pci" : model)), ("netdev", .string(netdev)), ("id", .string(interface.alias ?? "net\(index)")),
            ]
            if let mac = interface.mac { members.append(("mac", .string(mac))) }
            if let boot = bootIndexes.index(for: "network", explicit: interface.bootOrder) { members.append(("bootindex", .integer(Int64(boot)))) }
            addDevice(members)
        }
    }
}
