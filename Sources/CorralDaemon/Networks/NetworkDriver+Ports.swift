import Logging
import CorralNetwork
import CorralProtocol
import XDR

extension NetworkDriver {
    /// Plugs a port into a running network (libvirt's `networkPortCreateXML`, which its domain
    /// driver calls for every `<interface type='network'>`): decides the bridge the guest's tap
    /// joins and records the port. Modes that need host devices (macvtap, SR-IOV) are refused.
    func plug(network name: String, port: NetworkPortDefinition, reclaim: Bool = false) async throws(RemoteError) -> NetworkPortDefinition {
        guard registry.network(named: name) != nil else {
            throw RemoteError(code: .noNetwork, domain: .network, detail: "no network with matching name '\(name)'")
        }
        return try await jobs.run(name, "networkPortCreateXML") { () throws(RemoteError) -> NetworkPortDefinition in
            guard let record = registry.network(named: name) else {
                throw RemoteError(code: .noNetwork, domain: .network, detail: "no network with matching name '\(name)'")
            }
            guard record.isActive else { throw RemoteError(code: .operationInvalid, domain: .network, detail: "network '\(name)' is not active") }
            let definition = record.definition
            if record.ports[port.uuid] != nil && !reclaim {
                throw RemoteError(code: .networkPortExists, domain: .network, detail: "Network port with UUID \(port.uuid) already exists")
            }
            if let group = port.portGroup, definition.portGroup(named: group) == nil {
                throw RemoteError(code: .invalidArgument, domain: .network, detail: "requested portgroup '\(group)' doesn't exist in network '\(name)'")
            }
            var plugged = port
            plugged.portGroup = port.portGroup ?? definition.portGroup(named: nil)?.name
            plugged.macTableManager = definition.bridge.macTableManager
            // The interface's bandwidth, else its port group's.
            if plugged.bandwidth == nil { plugged.bandwidth = definition.portGroup(named: plugged.portGroup)?.bandwidth }
            // The interface's port isolation, else the network's.
            if plugged.isolated == nil { plugged.isolated = definition.portIsolated }
            switch definition.forward?.mode {
            case nil, .nat?, .route?, .open?:
                plugged.plugType = .network
                plugged.bridge = definition.bridge.name
            case .bridge?:
                guard let bridge = definition.bridge.name else {
                    throw RemoteError(code: .configUnsupported, domain: .network, detail: "network '\(name)' connects guests through macvtap on its forward devices, which Corral does not manage; name a host bridge in <bridge name=…/>")
                }
                plugged.plugType = .bridge
                plugged.bridge = bridge
            case let mode?:
                throw RemoteError(code: .configUnsupported, domain: .network, detail: "network '\(name)' uses forward mode '\(mode.rawValue)', which needs host network devices (macvtap or SR-IOV) that Corral does not manage")
            }
            registry.update(name) { $0.ports[plugged.uuid] = plugged }
            return plugged
        }
    }

    /// Removes a port (the guest's interface went away). A missing network or port is not an error.
    func unplug(network name: String, portUUID: String) async {
        guard registry.network(named: name) != nil else { return }
        _ = try? await jobs.run(name, "networkPortDelete") { () throws(RemoteError) in
            registry.update(name) { _ = $0.ports.removeValue(forKey: portUUID) }
        }
    }

    /// Records the host device (tap) a port's guest side made for it.
    func attach(device: String, network name: String, portUUID: String) {
        registry.update(name) { $0.ports[portUUID]?.device = device }
    }

    /// `virNetworkPortSetParameters`: new bandwidth for a port, applied to its tap at once.
    func setBandwidth(_ handle: RemoteNetworkPort, _ values: [String: UInt64]) async throws(RemoteError) {
        let (record, _) = try port(handle)
        let name = record.definition.name, uuid = handle.uuid.description
        try await jobs.run(name, "networkPortSetParameters") { () throws(RemoteError) in
            guard let current = registry.network(named: name)?.ports[uuid] else {
                throw RemoteError(code: .noNetworkPort, domain: .network, detail: "Network port with UUID \(uuid) does not exist")
            }
            let updated = (current.bandwidth ?? NetworkDefinition.Bandwidth()).setting(values)
            if let device = current.device {
                try await NetworkWork.run { () throws(NetworkError) in
                    if updated == nil {
                        _ = try? NetworkHost.run(NetworkHost.tcTool, ["-force", "-batch", "-"], input: TrafficShaping.clearCommands(device: device).joined(separator: "\n") + "\n")
                    } else {
                        try NetworkHost.shape(device, inbound: updated?.inbound, outbound: updated?.outbound)
                    }
                }
            }
            registry.update(name) { $0.ports[uuid]?.bandwidth = updated }
        }
    }

    /// The port a handle names, or libvirt's error.
    func port(_ handle: RemoteNetworkPort) throws(RemoteError) -> (NetworkRecord, NetworkPortDefinition) {
        let record = try registry.network(for: handle.net)
        guard let port = record.ports[handle.uuid.description] else {
            throw RemoteError(code: .noNetworkPort, domain: .network, detail: "Network port with UUID \(handle.uuid) does not exist")
        }
        return (record, port)
    }
}

/// The network port procedures (`net-port-*`).
enum NetworkPortProcedures {
    static func handle(_ record: NetworkRecord, _ port: NetworkPortDefinition) -> RemoteNetworkPort {
        RemoteNetworkPort(net: record.handle, uuid: RemoteUUID(port.uuid)!)
    }

    static func register(in table: inout ProcedureTable, driver: NetworkDriver) {
        table.register(Remote.NetworkListAllPorts.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, domain: .network, function: "networkListAllPorts")
            let record = try driver.registry.network(for: arguments.network)
            guard record.isActive else {
                throw RemoteError(code: .operationInvalid, domain: .network, detail: "network '\(record.definition.name)' is not active")
            }
            let ports = record.ports.values.sorted { $0.uuid < $1.uuid }.map { handle(record, $0) }
            return .init(ports: arguments.needResults != 0 ? ports : [], ret: UInt32(ports.count))
        }
        table.register(Remote.NetworkPortLookupByUuid.self) { arguments, _ throws(RemoteError) in
            let (record, port) = try driver.port(RemoteNetworkPort(net: arguments.network, uuid: arguments.uuid))
            return .init(port: handle(record, port))
        }
        table.register(Remote.NetworkPortGetXmlDesc.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, domain: .network, function: "networkPortGetXMLDesc")
            return .init(xml: try driver.port(arguments.port).1.xml)
        }
        table.registerAsync(Remote.NetworkPortCreateXml.self) { arguments, _ throws(RemoteError) in
            // RECLAIM 1, VALIDATE 2.
            try DomainProcedures.checkFlags(arguments.flags, allowed: 3, domain: .network, function: "networkPortCreateXML")
            let record = try driver.registry.network(for: arguments.network)
            let port: NetworkPortDefinition
            do throws(NetworkError) {
                port = try NetworkPortDefinition.parse(arguments.xml, newUUID: NetworkDriver.newUUID)
            } catch {
                throw RemoteError(error)
            }
            let plugged = try await driver.plug(network: record.definition.name, port: port, reclaim: arguments.flags & 1 != 0)
            return .init(port: handle(record, plugged))
        }
        table.registerAsync(Remote.NetworkPortDelete.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, domain: .network, function: "networkPortDelete")
            let (record, port) = try driver.port(arguments.port)
            await driver.unplug(network: record.definition.name, portUUID: port.uuid)
            return .init()
        }
        table.register(Remote.NetworkPortGetParameters.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, domain: .network, function: "networkPortGetParameters")
            let (record, port) = try driver.port(arguments.port)
            guard record.isActive else {
                throw RemoteError(code: .operationInvalid, domain: .network, detail: "network '\(record.definition.name)' is not active")
            }
            // Every parameter, whatever `nparams` says: libvirt's client leaves that field
            // uninitialised for this call, and libvirtd ignores it.
            let parameters = (port.bandwidth?.parameters ?? []).map { TypedParameter($0.0, .uint(UInt32(clamping: $0.1))) }
            return .init(params: parameters, nparams: Int32(parameters.count))
        }
        table.registerAsync(Remote.NetworkPortSetParameters.self) { arguments, _ throws(RemoteError) in
            try DomainProcedures.checkFlags(arguments.flags, allowed: 0, domain: .network, function: "networkPortSetParameters")
            let schema = Dictionary(uniqueKeysWithValues: NetworkDefinition.Bandwidth.parameterNames.map { ($0, TypedParameter.Kind.uint) })
            try TunableProcedures.validate(arguments.params, schema)
            var values: [String: UInt64] = [:]
            for parameter in arguments.params {
                if case .uint(let value) = parameter.value { values[parameter.field] = UInt64(value) }
            }
            try await driver.setBandwidth(arguments.port, values)
            return .init()
        }
    }
}
