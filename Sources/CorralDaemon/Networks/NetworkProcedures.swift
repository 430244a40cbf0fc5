import CorralNetwork
import CorralProtocol
import XDR

/// The network procedures: definitions, lifecycle, listings, lookups, leases, ports and events.
enum NetworkProcedures {
    /// `VIR_CONNECT_LIST_NETWORKS_*` (INACTIVE … NO_AUTOSTART).
    static let listFlags: UInt32 = 0x3F

    static func register(in table: inout ProcedureTable, driver: NetworkDriver) {
        registerListings(in: &table, driver.registry)
        registerLookups(in: &table, driver.registry)
        registerChanges(in: &table, driver)
        NetworkPortProcedures.register(in: &table, driver: driver)
        table.register(Remote.ConnectNetworkEventRegisterAny.self) { arguments, context throws(RemoteError) in
            guard let channel = context.channel else { throw RemoteError.internalError("no channel for events") }
            return .init(callbackID: try driver.events.register(connectionID: context.connectionID, channel: channel, eventID: arguments.eventID, network: arguments.net?.uuid))
        }
        table.register(Remote.ConnectNetworkEventDeregisterAny.self) { arguments, context throws(RemoteError) in
            try driver.events.deregister(connectionID: context.connectionID, callbackID: arguments.callbackID)
            return .init()
        }
    }

    private static func registerListings(in table: inout ProcedureTable, _ registry: NetworkRegistry) {
        table.register(Remote.ConnectNumOfNetworks.self) { _, _ in .init(num: Int32(registry.all().filter(\.isActive).count)) }
        table.register(Remote.ConnectNumOfDefinedNetworks.self) { _, _ in .init(num: Int32(registry.all().filter { !$0.isActive }.count)) }
        table.register(Remote.ConnectListNetworks.self) { arguments, _ throws(RemoteError) in
            try NetworkAndPoolListings.checkMaximum(arguments.maxnames, "REMOTE_NETWORK_LIST_MAX")
            return .init(names: Array(registry.all().filter(\.isActive).map(\.definition.name).prefix(Int(arguments.maxnames))))
        }
        table.register(Remote.ConnectListDefinedNetworks.self) { arguments, _ throws(RemoteError) in
            try NetworkAndPoolListings.checkMaximum(arguments.maxnames, "REMOTE_NETWORK_LIST_MAX")
            return .init(names: Array(registry.all().filter { !$0.isActive }.map(\.definition.name).prefix(Int(arguments.maxnames))))
        }
        table.register(Remote.ConnectListAllNetworks.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: listFlags, domain: .network, function: "networkConnectListAllNetworks")
            let networks = registry.all().filter { matches($0, arguments.flags) }.map(\.handle)
            return .init(nets: arguments.needResults != 0 ? networks : [], ret: UInt32(networks.count))
        }
    }

    /// `virConnectListAllNetworks`' filter: within each pair of flags, a network must match one given.
    static func matches(_ record: NetworkRecord, _ flags: UInt32) -> Bool {
        func group(_ mask: UInt32, _ first: Bool) -> Bool {
            guard flags & mask != 0 else { return true }
            let low = mask & ~(mask - 1)
            return (flags & low != 0 && first) || (flags & (mask & ~low) != 0 && !first)
        }
        return group(3, !record.isActive) && group(12, record.isPersistent) && group(48, record.autostart)
    }

    private static func registerLookups(in table: inout ProcedureTable, _ registry: NetworkRegistry) {
        table.register(Remote.NetworkLookupByName.self) { arguments, _ throws(RemoteError) in
            guard let record = registry.network(named: arguments.name) else {
                throw RemoteError(code: .noNetwork, domain: .network, detail: "no network with matching name '\(arguments.name)'")
            }
            return .init(net: record.handle)
        }
        table.register(Remote.NetworkLookupByUuid.self) { arguments, _ throws(RemoteError) in
            guard let record = registry.network(uuid: arguments.uuid.description) else {
                throw RemoteError(code: .noNetwork, domain: .network, detail: "no network with matching uuid '\(arguments.uuid)'")
            }
            return .init(net: record.handle)
        }
        table.register(Remote.NetworkGetXmlDesc.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 1, domain: .network, function: "networkGetXMLDesc")
            let record = try registry.network(for: arguments.net)
            let inactive = arguments.flags & 1 != 0 || !record.isActive
            let definition = inactive ? record.inactiveDefinition : record.definition
            return .init(xml: NetworkXMLFormatter.format(definition, connections: record.ports.count, inactive: inactive))
        }
        table.register(Remote.NetworkGetAutostart.self) { arguments, _ throws(RemoteError) in
            .init(autostart: try registry.network(for: arguments.net).autostart ? 1 : 0)
        }
        table.register(Remote.NetworkIsActive.self) { arguments, _ throws(RemoteError) in
            .init(active: try registry.network(for: arguments.net).isActive ? 1 : 0)
        }
        table.register(Remote.NetworkIsPersistent.self) { arguments, _ throws(RemoteError) in
            .init(persistent: try registry.network(for: arguments.net).isPersistent ? 1 : 0)
        }
        table.register(Remote.NetworkGetBridgeName.self) { arguments, _ throws(RemoteError) in
            let record = try registry.network(for: arguments.net)
            guard let bridge = record.definition.bridge.name else {
                throw RemoteError(code: .internalError, domain: .network, detail: "network '\(record.definition.name)' does not have a bridge name.")
            }
            return .init(name: bridge)
        }
    }

    private static func registerChanges(in table: inout ProcedureTable, _ driver: NetworkDriver) {
        table.registerAsync(Remote.NetworkDefineXml.self) { arguments, _ throws(RemoteError) in .init(net: try await driver.define(xml: arguments.xml, flags: 0)) }
        table.registerAsync(Remote.NetworkDefineXmlFlags.self) { arguments, _ throws(RemoteError) in
            .init(net: try await driver.define(xml: arguments.xml, flags: arguments.flags))
        }
        table.registerAsync(Remote.NetworkCreateXml.self) { arguments, _ throws(RemoteError) in .init(net: try await driver.create(xml: arguments.xml, flags: 0)) }
        table.registerAsync(Remote.NetworkCreateXmlFlags.self) { arguments, _ throws(RemoteError) in
            .init(net: try await driver.create(xml: arguments.xml, flags: arguments.flags))
        }
        table.registerAsync(Remote.NetworkCreate.self) { arguments, _ throws(RemoteError) in
            try await driver.start(arguments.net)
            return .init()
        }
        table.registerAsync(Remote.NetworkDestroy.self) { arguments, _ throws(RemoteError) in
            try await driver.destroy(arguments.net)
            return .init()
        }
        table.registerAsync(Remote.NetworkUndefine.self) { arguments, _ throws(RemoteError) in
            try await driver.undefine(arguments.net)
            return .init()
        }
        table.registerAsync(Remote.NetworkSetAutostart.self) { arguments, _ throws(RemoteError) in
            try await driver.setAutostart(arguments.net, arguments.autostart != 0)
            return .init()
        }
        table.registerAsync(Remote.NetworkUpdate.self) { arguments, _ throws(RemoteError) in
            try await driver.update(
                arguments.net, command: arguments.command, section: arguments.section, parentIndex: arguments.parentIndex, xml: arguments.xml, flags: arguments.flags)
            return .init()
        }
        table.registerAsync(Remote.NetworkGetDhcpLeases.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, domain: .network, function: "networkGetDHCPLeases")
            let leases = try await driver.leases(arguments.net, mac: arguments.mac)
            let wire = leases.map { lease in
                NetworkDHCPLease(
                    iface: lease.interface, expirytime: lease.expiry, type: lease.family == .ipv4 ? 0 : 1, mac: lease.mac, iaid: lease.iaid,
                    ipaddr: "\(lease.address)", prefix: lease.prefix, hostname: lease.hostname, clientid: lease.clientID)
            }
            return .init(leases: arguments.needResults != 0 ? wire : [], ret: UInt32(wire.count))
        }
    }
}
