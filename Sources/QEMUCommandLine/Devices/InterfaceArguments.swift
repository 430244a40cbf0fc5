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
        // libvirt's check (qemuBuildHostNetProps): only the daemon's own taps run scripts.
        if interface.script != nil && interface.type != .ethernet {
            throw CommandLineError(.unsupported, "scripts are not supported on interfaces of type \(interface.type.rawValue)")
        }
        // libvirt's check (qemuDomainValidateActualNetDef): only taps open through another node.
        if interface.tapDevicePath != nil && ![.network, .bridge, .ethernet].contains(interface.type) {
            throw CommandLineError(
                .unsupported, "interface \(interface.mac ?? "") - custom tap device path is not supported for network interfaces of type \(interface.type.rawValue)")
        }
        let netdev = devices.interfaces[index].netdev
        let queues = interface.driver?.queues ?? 0
        if let connection = context.interfaceConnections[index], [.network, .bridge, .ethernet, .direct].contains(interface.type),
            interface.type != .direct || !connection.qemuDescriptors.isEmpty {
            // The daemon made the host side. A tap (multi-queue when asked, on its bridge): QEMU
            // opens it by name, once per queue. A macvtap, whose tap device the daemon opened
            // once per queue: QEMU takes the descriptors (libvirt's `fd`, or `fds` for several).
            var tap: [(String, JSONValue)] = [("type", .string("tap"))]
            let descriptors = connection.qemuDescriptors
            if descriptors.isEmpty {
                tap += [("ifname", .string(connection.tap)), ("script", .string("no")), ("downscript", .string("no"))]
                if queues > 1 { tap.append(("queues", .integer(Int64(queues)))) }
            } else {
                tap.append(descriptors.count > 1 ? ("fds", .string(descriptors.joined(separator: ":"))) : ("fd", .string(descriptors[0])))
            }
            if try usesVhostNet(interface) { tap.append(("vhost", .bool(true))) }
            add("-netdev", json: .object(tap + [("id", .string(netdev))]))
        } else if interface.type == .vhostuser, let source = interface.vhostUser {
            try addVhostUserNetdev(source, netdev: netdev, alias: devices.interfaces[index].alias, queues: queues)
        } else {
            if queues > 1 {
                throw CommandLineError(
                    .unsupported, "interface \(interface.mac ?? "") - multiqueue is not supported for network interfaces of type \(interface.type.rawValue)")
            }
            try addUnmanagedNetdev(interface, index: index, netdev: netdev)
        }
        let model = interface.model ?? .virtio
        var members: [(String, JSONValue)] = [("driver", .string(Self.nicDevice(model)))]
        if interface.isVirtio { members += virtioNetMembers(interface) }
        if let virtio = interface.driver?.virtio { members.insert(contentsOf: Self.virtioOptionMembers(virtio), at: 1) }
        members += [("netdev", .string(netdev)), ("id", .string(devices.interfaces[index].alias))]
        if let mac = interface.mac { members.append(("mac", .string(mac))) }
        members += pciPlacement(interface.pciAddress, acpiIndex: interface.acpiIndex)
        if let boot = bootIndexes.index(for: .network, explicit: interface.bootOrder) { members.append(("bootindex", .integer(Int64(boot)))) }
        // The option ROM as libvirt passes it: its BAR, then its file ("" loads none).
        if let bar = interface.romBar { members.append(("rombar", .integer(bar ? 1 : 0))) }
        if let file = interface.romFile { members.append(("romfile", .string(file))) }
        addDevice(members)
    }

    /// Whether a tap interface uses vhost-net (libvirt's `qemuInterfaceOpenVhostNet`): for a
    /// virtio NIC of a KVM guest, unless `<driver name='qemu'>`, when `/dev/vhost-net` opens;
    /// `<driver name='vhost'>` without it is an error.
    func usesVhostNet(_ interface: DomainDefinition.Interface) throws(CommandLineError) -> Bool {
        guard domain.type == .kvm, interface.driver?.backend != .qemu else { return false }
        guard interface.isVirtio else {
            if interface.driver?.backend == .vhost { throw CommandLineError(.unsupported, "vhost-net is only supported for virtio network interfaces") }
            return false
        }
        guard context.vhostNetAvailable else {
            if interface.driver?.backend == .vhost { throw CommandLineError(.unsupported, "vhost-net was requested for an interface, but is unavailable") }
            return false
        }
        // QEMU opens /dev/vhost-net itself here; another node would need the daemon to open
        // it and pass the descriptors, which it does not do yet.
        if let path = interface.vhostDevicePath, path != "/dev/vhost-net" {
            throw CommandLineError(.unsupported, "interface \(interface.mac ?? "") - a vhost-net device other than /dev/vhost-net ('\(path)') is not supported")
        }
        return true
    }

    /// A virtio NIC's driver settings as device properties, in libvirt's order
    /// (`qemuBuildNicDevProps`): transmit mode, ioeventfd, event index, host and guest
    /// offloads, multi-queue with its MSI-X vectors (2 per queue pair + 2), queue sizes, receive-side
    /// scaling and hash reports, MTU.
    func virtioNetMembers(_ interface: DomainDefinition.Interface) -> [(String, JSONValue)] {
        var members: [(String, JSONValue)] = []
        guard let driver = interface.driver else { return interface.mtu.map { [("host_mtu", .integer(Int64($0)))] } ?? [] }
        if let mode = driver.transmitMode { members.append(("tx", .string(mode == .iothread ? "bh" : "timer"))) }
        if let on = driver.ioeventfd { members.append(("ioeventfd", .bool(on))) }
        if let on = driver.eventIndex { members.append(("event_idx", .bool(on))) }
        let hostNames = ["csum": "csum", "gso": "gso", "tso4": "host_tso4", "tso6": "host_tso6", "ecn": "host_ecn", "ufo": "host_ufo", "mrg_rxbuf": "mrg_rxbuf"]
        for name in DomainDefinition.Interface.Driver.hostOffloads { if let on = driver.host[name], let property = hostNames[name] { members.append((property, .bool(on))) } }
        for name in DomainDefinition.Interface.Driver.guestOffloads { if let on = driver.guest[name] { members.append(("guest_" + name, .bool(on))) } }
        if let queues = driver.queues, queues > 1 { members += [("mq", .bool(true)), ("vectors", .integer(Int64(2 * queues + 2)))] }
        if let size = driver.rxQueueSize { members.append(("rx_queue_size", .integer(Int64(size)))) }
        if let size = driver.txQueueSize { members.append(("tx_queue_size", .integer(Int64(size)))) }
        if let on = driver.receiveSideScaling { members.append(("rss", .bool(on))) }
        if let on = driver.hashReport { members.append(("hash", .bool(on))) }
        if let mtu = interface.mtu { members.append(("host_mtu", .integer(Int64(mtu)))) }
        return members
    }

    /// A vhost-user interface's socket chardev (`char` + its alias) and netdev: QEMU connects to
    /// the backend's socket (`mode='client'`, with `reconnect` seconds when asked), or listens on
    /// it and waits at start for the backend to connect (libvirt's `server=on`). A hot-plugged
    /// one's chardev is QMP's structure and does not wait.
    mutating func addVhostUserNetdev(_ source: DomainDefinition.Interface.VhostUserSource, netdev: String, alias: String, queues: Int) throws(CommandLineError) {
        let chardev = "char" + alias
        if forHotplug {
            let address: JSONValue = .object([("type", .string("unix")), ("data", .object([("path", .string(source.path))]))])
            var data: [(String, JSONValue)] = [("addr", address), ("server", .bool(source.qemuListens))]
            if source.qemuListens { data.append(("wait", .bool(false))) }
            if let seconds = source.reconnectSeconds { data.append(("reconnect", .integer(Int64(seconds)))) }
            add("-chardev", json: .object([("id", .string(chardev)), ("backend", .object([("type", .string("socket")), ("data", .object(data))]))]))
        } else {
            var options: [(String, String)] = [("id", chardev), ("path", source.path)]
            if source.qemuListens { options.append(("server", "on")) }
            if let seconds = source.reconnectSeconds { options.append(("reconnect", String(seconds))) }
            add("-chardev", try QEMUKeyValue.render("socket", options))
        }
        var members: [(String, JSONValue)] = [("type", .string("vhost-user")), ("chardev", .string(chardev))]
        if queues > 1 { members.append(("queues", .integer(Int64(queues)))) }
        add("-netdev", json: .object(members + [("id", .string(netdev))]))
    }

    /// The netdev of an interface without a tap from the daemon: user networking, or a bridge
    /// through QEMU's bridge helper (a daemon that is not root cannot make taps).
    private mutating func addUnmanagedNetdev(_ interface: DomainDefinition.Interface, index: Int, netdev: String) throws(CommandLineError) {
        switch interface.type {
        case .user:
            // The guest's network (`<ip>`): QEMU's `net` (IPv4 with its prefix) and `ipv6-prefix`.
            var members: [(String, JSONValue)] = [("type", .string("user"))]
            for ip in interface.guestIPAddresses {
                switch ip.family {
                case .ipv4: members.append(("net", .string(ip.address + (ip.prefix.map { "/\($0)" } ?? ""))))
                case .ipv6:
                    members.append(("ipv6-prefix", .string(ip.address)))
                    if let prefix = ip.prefix { members.append(("ipv6-prefixlen", .integer(Int64(prefix)))) }
                }
            }
            add("-netdev", json: .object(members + [("id", .string(netdev))]))
        case .bridge:
            guard let bridge = interface.source else { throw CommandLineError(.unsupported, "bridge interface \(index) has no source bridge") }
            add("-netdev", json: .object([("type", .string("bridge")), ("br", .string(bridge)), ("id", .string(netdev))]))
        case .server, .client, .mcast, .udp:
            // QEMU's socket netdev, as libvirt writes it (`qemuBuildHostNetProps`).
            guard let socket = interface.socket else { throw CommandLineError(.unsupported, "interface \(index) of type '\(interface.type.rawValue)' has no socket") }
            let endpoint = "\(socket.address ?? ""):\(socket.port)"
            var members: [(String, JSONValue)] = [("type", .string("socket"))]
            switch interface.type {
            case .server: members.append(("listen", .string(endpoint)))
            case .client: members.append(("connect", .string(endpoint)))
            case .mcast: members.append(("mcast", .string(endpoint)))
            default:
                members.append(("udp", .string(endpoint)))
                members.append(("localaddr", .string("\(socket.localAddress ?? ""):\(socket.localPort ?? 0)")))
            }
            add("-netdev", json: .object(members + [("id", .string(netdev))]))
        case .network, .ethernet, .direct:
            throw CommandLineError(.unsupported, "interface \(index) of type '\(interface.type.rawValue)' has no host side: the daemon makes its tap")
        default:
            throw CommandLineError(.unsupported, "interface type '\(interface.type.rawValue)' needs host networking that Corral does not manage; use type 'user', 'network', 'bridge', 'ethernet', 'direct', 'vhostuser' or a socket type")
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
