import CorralNetwork
import CorralProtocol
import DomainXML
import Foundation
import Logging
import QEMUCommandLine
import POSIXSupport
import Synchronization

extension DomainDriver {
    /// Makes the host side of a guest's `network`, `bridge` and `ethernet` interfaces, as
    /// libvirt's QEMU driver does before it starts QEMU: a network port from the network driver
    /// (which names the bridge), then a tap with the guest's MAC on that bridge. Returns them by
    /// interface index; on failure what was made is undone. A daemon that is not root makes no
    /// taps: `bridge` interfaces then use QEMU's bridge helper, and the others are refused.
    func connectInterfaces(_ definition: DomainDefinition) async throws(RemoteError) -> [Int: CommandLineContext.InterfaceConnection] {
        var connections: [Int: CommandLineContext.InterfaceConnection] = [:]
        for (index, interface) in definition.devices.interfaces.enumerated() where Self.daemonConnects(interface) {
            if getuid() != 0 {
                if interface.type == .bridge { continue }
                Self.closeOpenDescriptors(connections.values)
                await disconnectInterfaces(Array(connections.values))
                throw RemoteError(code: .operationFailed, domain: .qemu, detail: "interface type '\(interface.type.rawValue)' needs a daemon running as root, which makes its tap")
            }
            do throws(RemoteError) {
                connections[index] = try await connectInterface(interface, owner: definition)
            } catch {
                Self.closeOpenDescriptors(connections.values)
                await disconnectInterfaces(Array(connections.values))
                throw error
            }
        }
        return connections
    }

    /// Whether the daemon makes the interface's host side: a tap (on a network's or a named
    /// bridge, or alone) or a macvtap on a host device.
    nonisolated static func daemonConnects(_ interface: DomainDefinition.Interface) -> Bool {
        [.network, .bridge, .ethernet, .direct].contains(interface.type)
    }

    /// One interface's port and tap.
    ///
    /// (Hot-plug uses ``connectInterfaces(_:)`` with a definition holding just that interface.)
    func connectInterface(_ interface: DomainDefinition.Interface, owner: DomainDefinition) async throws(RemoteError) -> CommandLineContext.InterfaceConnection {
        guard let macText = interface.mac, let mac = MACAddress(macText) else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "interface has no MAC address")
        }
        var bridge: String?
        var network: String?
        var portID: String?
        // Whether the tap is an isolated port of its bridge: the interface's choice, or its
        // network's (from the plugged port).
        var isolated = interface.portIsolated ?? false
        // The interface's own bandwidth, else its port group's (libvirt's order).
        var inbound = interface.bandwidth?.inbound.map(Self.rate), outbound = interface.bandwidth?.outbound.map(Self.rate)
        switch interface.type {
        case .network:
            guard let networks, let name = interface.source else {
                throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "interface of type 'network' names no network")
            }
            var port = NetworkPortDefinition(uuid: NetworkDriver.newUUID(), ownerName: owner.name, ownerUUID: owner.uuid, mac: mac)
            port.portGroup = interface.portGroup
            port.isolated = interface.portIsolated
            if inbound != nil || outbound != nil {
                var bandwidth = NetworkDefinition.Bandwidth()
                bandwidth.inbound = inbound
                bandwidth.outbound = outbound
                port.bandwidth = bandwidth
            }
            // The port carries the interface's bandwidth, else its port group's.
            let plugged = try await networks.plug(network: name, port: port)
            isolated = plugged.isolated ?? false
            inbound = plugged.bandwidth?.inbound
            outbound = plugged.bandwidth?.outbound
            bridge = plugged.bridge
            network = name
            portID = plugged.uuid
        case .bridge:
            guard let name = interface.source, NetworkHost.isBridge(name) else {
                throw RemoteError(code: .systemError, domain: .none, detail: "Cannot get interface MTU on '\(interface.source ?? "")': No such device")
            }
            bridge = name
        default:
            break
        }
        if interface.type == .direct {
            return try await connectMacvtap(interface, mac: mac, inbound: inbound, outbound: outbound)
        }
        let tapNames = self.tapNames, requested = interface.targetDevice, tapBridge = bridge, shapedIn = inbound, shapedOut = outbound
        let queues = interface.driver?.queues ?? 0, mtu = interface.mtu, coalesce = interface.coalesceRxFrames, isolatedPort = isolated
        // `<backend tap>`: the daemon opens the tap through that node and QEMU takes the
        // descriptors (QEMU itself would open /dev/net/tun).
        let tunDevice = interface.tapDevicePath, virtioHeader = interface.isVirtio
        do throws(RemoteError) {
            let (tap, descriptors) = try await NetworkWork.run { () throws(NetworkError) -> (String, [Int32]) in
                let tap = try tapNames.reserve(requested)
                var descriptors: [Int32] = []
                do throws(NetworkError) {
                    try NetworkHost.createTap(
                        tap, bridge: tapBridge, guestMAC: mac, multiQueue: queues > 1, mtu: mtu, coalesceRxFrames: coalesce, isolated: isolatedPort)
                    do throws(NetworkError) {
                        try NetworkHost.shape(tap, inbound: shapedIn, outbound: shapedOut)
                        if let tunDevice { descriptors = try NetworkHost.openTapQueues(tap, through: tunDevice, queues: queues, virtioHeader: virtioHeader) }
                    } catch {
                        NetworkHost.removeTap(tap)
                        throw error
                    }
                } catch {
                    tapNames.release(tap)
                    throw error
                }
                return (tap, descriptors)
            }
            if let network, let portID { networks?.attach(device: tap, network: network, portUUID: portID) }
            var connection = CommandLineContext.InterfaceConnection(tap: tap, bridge: bridge, network: network, portID: portID)
            connection.openDescriptors = descriptors
            if interface.type == .ethernet {
                connection.downscript = interface.downscript
                if let script = interface.script {
                    do throws(RemoteError) {
                        try await Self.runInterfaceScript(script, tap: tap)
                    } catch {
                        for descriptor in descriptors { close(descriptor) }
                        await disconnectInterfaces([CommandLineContext.InterfaceConnection(tap: tap, bridge: nil)])
                        throw error
                    }
                }
            }
            return connection
        } catch {
            if let network, let portID { await networks?.unplug(network: network, portUUID: portID) }
            throw error
        }
    }

    /// A `direct` interface's macvtap on its host device, with its tap device opened once per
    /// queue (the descriptors travel in the connection until QEMU has them) and its bandwidth
    /// shaped as a tap's.
    private func connectMacvtap(
        _ interface: DomainDefinition.Interface, mac: MACAddress, inbound: NetworkDefinition.Rate?, outbound: NetworkDefinition.Rate?
    ) async throws(RemoteError) -> CommandLineContext.InterfaceConnection {
        guard let link = interface.source, let mode = interface.directMode else {
            throw RemoteError(code: .internalError, domain: .qemu, detail: "interface type='direct' requires a 'source' element")
        }
        // libvirt saves the host device's MAC address and VLAN, gives it the guest's and puts
        // them back at the end; Corral does not change host devices, so it refuses the mode.
        guard mode != .passthrough else {
            throw RemoteError(code: .configUnsupported, domain: .qemu, detail: "macvtap mode 'passthrough' is not supported: it would change the MAC address of host device '\(link)'; use mode 'vepa', 'bridge' or 'private', or a <hostdev>")
        }
        let tapNames = self.tapNames, requested = interface.targetDevice
        let queues = max(interface.driver?.queues ?? 1, 1), virtioHeader = interface.isVirtio
        return try await NetworkWork.run { () throws(NetworkError) -> CommandLineContext.InterfaceConnection in
            let name = try tapNames.reserve(requested, prefix: "macvtap")
            var descriptors: [Int32] = []
            do throws(NetworkError) {
                descriptors = try NetworkHost.createMacvtap(name, link: link, mode: mode, guestMAC: mac, queues: queues, virtioHeader: virtioHeader)
                // A macvtap shares the host's view (what it receives goes to the guest), the
                // reverse of a tap: libvirt swaps the directions the same way.
                let swapped = interface.type.sharesHostView
                try NetworkHost.shape(name, inbound: swapped ? outbound : inbound, outbound: swapped ? inbound : outbound)
            } catch {
                for descriptor in descriptors { close(descriptor) }
                NetworkHost.removeTap(name)
                tapNames.release(name)
                throw error
            }
            var connection = CommandLineContext.InterfaceConnection(tap: name, bridge: nil)
            connection.openDescriptors = descriptors
            return connection
        }
    }

    /// Takes the open tap descriptors out of `context`'s connections, in interface order, and
    /// names them as QEMU will inherit them (`firstNumber`, then up); returns them for spawning.
    nonisolated static func handOverTapDescriptors(_ context: inout CommandLineContext, firstNumber: Int32) -> [Int32] {
        var descriptors: [Int32] = []
        for index in context.interfaceConnections.keys.sorted() {
            guard var connection = context.interfaceConnections[index], !connection.openDescriptors.isEmpty else { continue }
            connection.qemuDescriptors = connection.openDescriptors.indices.map { String(firstNumber + Int32(descriptors.count + $0)) }
            descriptors += connection.openDescriptors
            connection.openDescriptors = []
            context.interfaceConnections[index] = connection
        }
        return descriptors
    }

    /// Closes descriptors that connections made and nobody took (a start that failed early).
    nonisolated static func closeOpenDescriptors(_ connections: some Sequence<CommandLineContext.InterfaceConnection>) {
        for connection in connections { for descriptor in connection.openDescriptors { close(descriptor) } }
    }

    /// After a daemon restart: a running guest's taps stay reserved, and its network ports are
    /// recorded again in their networks.
    func adoptInterfaces(_ definition: DomainDefinition, devices: GuestDevices) async {
        tapNames.adopt(devices.interfaces.compactMap { $0.connection?.tap })
        for (index, names) in devices.interfaces.enumerated() {
            guard let connection = names.connection, let network = connection.network, let portID = connection.portID,
                index < definition.devices.interfaces.count, let mac = definition.devices.interfaces[index].mac.flatMap(MACAddress.init)
            else { continue }
            var port = NetworkPortDefinition(uuid: portID, ownerName: definition.name, ownerUUID: definition.uuid, mac: mac)
            port.portGroup = definition.devices.interfaces[index].portGroup
            _ = try? await networks?.plug(network: network, port: port, reclaim: true)
        }
    }

    /// A domain `<bandwidth>` rate as the network model's.
    nonisolated static func rate(_ rate: DomainDefinition.Interface.Bandwidth.Rate) -> NetworkDefinition.Rate {
        var converted = NetworkDefinition.Rate()
        converted.average = rate.average
        converted.peak = rate.peak
        converted.burst = rate.burst
        converted.floor = rate.floor
        return converted
    }

    /// Removes taps and gives back network ports (a guest stopped, or its start failed).
    nonisolated func disconnectInterfaces(_ connections: [CommandLineContext.InterfaceConnection]) async {
        guard !connections.isEmpty else { return }
        let tapNames = self.tapNames
        // Each downscript first, while its tap is still there; one that fails is only logged.
        for connection in connections {
            guard let downscript = connection.downscript else { continue }
            do throws(RemoteError) {
                try await Self.runInterfaceScript(downscript, tap: connection.tap)
            } catch {
                logger.warning("the downscript of \(connection.tap) failed: \(error.message ?? "")")
            }
        }
        _ = try? await NetworkWork.run { () throws(NetworkError) in
            for connection in connections {
                NetworkHost.removeTap(connection.tap)
                tapNames.release(connection.tap)
            }
        }
        for connection in connections {
            if let network = connection.network, let portID = connection.portID { await networks?.unplug(network: network, portUUID: portID) }
        }
    }
}

extension DomainDriver {
    /// Runs an `ethernet` interface's `<script>` or `<downscript>` with the tap's name as its
    /// argument, as libvirt does (an empty path is nothing to run); blocking, off the event loops.
    nonisolated static func runInterfaceScript(_ script: String, tap: String) async throws(RemoteError) {
        guard !script.isEmpty else { return }
        try await NetworkWork.run { () throws(NetworkError) in
            let output: ChildProcess.Output
            do {
                output = try ChildProcess.run(script, [tap], timeout: 60)
            } catch {
                throw NetworkError(.operationFailed, "Cannot run \(script) \(tap): \(error)")
            }
            guard output.status == 0 else {
                throw NetworkError(.operationFailed, "Child process (\(script) \(tap)) unexpected exit status \(output.status)")
            }
        }
    }
}

/// The tap names in use: `vnetN` names are chosen here, lowest free first, so two guests starting
/// at once never pick the same.
final class TapNames: Sendable {
    private let reserved = Mutex<Set<String>>([])

    /// Reserves `requested`, or the first `vnetN` (`macvtapN` for a macvtap) that is neither
    /// reserved nor a host device.
    func reserve(_ requested: String?, prefix: String = "vnet") throws(NetworkError) -> String {
        if let requested {
            guard FirewallRuleset.isSafeName(requested) else { throw NetworkError(.configUnsupported, "invalid interface target device name '\(requested)'") }
            let taken = reserved.withLock { set -> Bool in
                if set.contains(requested) { return true }
                set.insert(requested)
                return false
            }
            if taken || NetworkHost.deviceExists(requested) {
                if !taken { release(requested) }
                throw NetworkError(.operationFailed, "Unable to create tap device \(requested): Device or resource busy")
            }
            return requested
        }
        for number in 0..<65536 {
            let name = "\(prefix)\(number)"
            let free = reserved.withLock { set -> Bool in
                guard !set.contains(name) else { return false }
                set.insert(name)
                return true
            }
            guard free else { continue }
            if !NetworkHost.deviceExists(name) { return name }
            release(name)
        }
        throw NetworkError(.operationFailed, "no free tap device name")
    }

    func release(_ name: String) {
        _ = reserved.withLock { $0.remove(name) }
    }

    /// Marks names that running guests hold (after a restart).
    func adopt(_ names: [String]) {
        reserved.withLock { $0.formUnion(names) }
    }
}

extension DomainDefinition {
    /// `owner` with only `interface` among its interfaces (to connect one hot-plugged interface).
    static func with(interface: DomainDefinition.Interface, of owner: DomainDefinition) -> DomainDefinition {
        var single = owner
        single.devices.interfaces = [interface]
        return single
    }
}
