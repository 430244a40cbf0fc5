import XMLTree

extension DomainDefinition {
    /// `<interface>`.
    public struct Interface: Hashable, Sendable, ModelledElement {
        /// `<interface type>`.
        public enum Kind: String, ModelledValue {
            case user, ethernet, vhostuser, server, client, mcast, network, bridge, `internal`, direct, hostdev, udp, vdpa, null, vds

            /// Whether the host device shares the guest's view of traffic (libvirt's
            /// `virDomainNetTypeSharesHostView`): what a macvtap receives, the guest receives,
            /// the reverse of a tap.
            public var sharesHostView: Bool { self == .direct }
        }

        /// `<model type>`: the NIC QEMU emulates. libvirt knows these by name and passes any
        /// other name through as a QEMU device type.
        public enum Model: Hashable, Sendable {
            case virtio, virtioTransitional, virtioNonTransitional, e1000, e1000e, rtl8139, ne2kPCI, pcnet, igb
            /// Any other device type name.
            case other(String)

            static let known: [(String, Model)] = [
                ("virtio", .virtio), ("virtio-transitional", .virtioTransitional), ("virtio-non-transitional", .virtioNonTransitional),
                ("e1000", .e1000), ("e1000e", .e1000e), ("rtl8139", .rtl8139), ("ne2k_pci", .ne2kPCI), ("pcnet", .pcnet), ("igb", .igb),
            ]

            public init(_ name: String) {
                self = Self.known.first { $0.0 == name }?.1 ?? .other(name)
            }

            /// The name as written in the XML.
            public var name: String {
                if case .other(let name) = self { return name }
                return Self.known.first { $0.1 == self }!.0
            }
        }

        public var type: Kind
        /// `<ip>`: the guest side's addresses (for user-mode networking: QEMU's network).
        public var guestIPAddresses: [GuestIPAddress] = []
        /// The network, bridge or host device, by type.
        public var source: String?
        /// `<source portgroup>`: the network's port group to use.
        public var portGroup: String?
        /// `<source portid>` (live): the network port the interface holds.
        public var portID: String?
        /// `<source bridge>` of a `network` interface (live): the bridge its tap joined.
        public var networkBridge: String?
        /// `<target dev>`: the host-side device (a tap the daemon made, `vnetN`).
        public var targetDevice: String?
        /// `<script path>`: a program the daemon runs with the tap's name once it is made (an
        /// `ethernet` interface only; libvirt's `virNetDevRunEthernetScript`).
        public var script: String?
        /// `<downscript path>`: run with the tap's name when the guest lets go of it.
        public var downscript: String?
        /// `<backend tap>`: the device node the tap is opened through instead of `/dev/net/tun`
        /// (a copy of it elsewhere), for taps the daemon makes.
        public var tapDevicePath: String?
        /// `<backend vhost>`: the device node vhost-net is opened through instead of
        /// `/dev/vhost-net` (a virtio NIC of a KVM guest).
        public var vhostDevicePath: String?
        /// `<port isolated>`: whether the tap is an isolated port of its bridge, which reaches
        /// only the bridge's ports that are not (its uplink), never another isolated guest
        /// (`nil`: the network's setting).
        public var portIsolated: Bool?
        /// `<bandwidth>`: traffic to the guest (`inbound`) and from it (`outbound`), shaped on its tap.
        public var bandwidth: Bandwidth?

        /// `<bandwidth><inbound|outbound average peak burst floor>`: kilobytes per second and
        /// kibibytes, as libvirt's `virNetDevBandwidth`.
        public struct Bandwidth: Hashable, Sendable {
            public struct Rate: Hashable, Sendable {
                public var average: UInt64 = 0
                public var peak: UInt64 = 0
                public var burst: UInt64 = 0
                public var floor: UInt64 = 0
            }
            public var inbound: Rate?
            public var outbound: Rate?

            init(_ element: XMLElement) throws(DomainXMLError) {
                func rate(_ name: String) throws(DomainXMLError) -> Rate? {
                    guard let child = element.element(named: name) else { return nil }
                    var rate = Rate()
                    for (attribute, keyPath) in [("average", \Rate.average), ("peak", \Rate.peak), ("burst", \Rate.burst), ("floor", \Rate.floor)] {
                        guard let text = child[attribute: attribute] else { continue }
                        guard let value = UInt64(text) else {
                            throw DomainXMLError(.invalid, line: child.line, "could not convert bandwidth \(attribute) value '\(text)'")
                        }
                        rate[keyPath: keyPath] = value
                    }
                    if child[attribute: "average"] == nil && child[attribute: "floor"] == nil {
                        throw DomainXMLError(.invalid, line: child.line, "Missing mandatory average or floor attributes")
                    }
                    if name == "outbound" && rate.floor != 0 {
                        throw DomainXMLError(.invalid, line: child.line, "'floor' attribute allowed only in <inbound> element")
                    }
                    return rate
                }
                inbound = try rate("inbound")
                outbound = try rate("outbound")
            }
        }
        /// `<source mode>` of a `direct` interface: how its macvtap device passes traffic.
        public var directMode: DirectMode?

        /// libvirt's macvtap modes (`virNetDevMacVLanMode`), in its order.
        public enum DirectMode: String, ModelledValue {
            /// Guests on one host device reach each other only through the external switch (the default).
            case vepa
            /// Guests on one host device never reach each other.
            case `private`
            /// Guests on one host device reach each other directly.
            case bridge
            /// The guest owns the host device (an SR-IOV function), with its MAC address.
            case passthrough

            /// The kernel's name of the mode (`ip link … type macvtap mode NAME`).
            public var kernelName: String { self == .passthrough ? "passthru" : rawValue }
        }
        /// A `server`, `client`, `mcast` or `udp` interface's socket: QEMU's `socket` netdev,
        /// which carries the guest's frames to another QEMU without any host networking.
        public var socket: SocketSource?

        /// `<source address port>` (and `<local address port>` for `udp`).
        public struct SocketSource: Hashable, Sendable {
            /// The address to connect to, listen on (none: every address) or the multicast group.
            public var address: String?
            public var port: Int32
            /// `udp`: the local end the datagrams leave from.
            public var localAddress: String?
            public var localPort: Int32?
        }
        /// A `vhostuser` interface's socket: `<source type='unix' path mode>` and its
        /// `<reconnect>`.
        public var vhostUser: VhostUserSource?

        /// Where a vhost-user backend (OVS-DPDK, a DPDK application) and QEMU meet.
        public struct VhostUserSource: Hashable, Sendable {
            public var path: String
            /// `mode='server'`: QEMU listens and the backend connects (`client`: the other way).
            public var qemuListens: Bool
            /// `<reconnect enabled='yes' timeout>`: seconds QEMU waits before connecting again
            /// to a backend that went away (a client only).
            public var reconnectSeconds: UInt32?
        }
        public var model: Model?
        public var mac: String?
        public var bootOrder: Int?
        /// `<link state>`: whether the guest sees a carrier.
        public var linkUp: Bool
        /// `<rom bar>`: whether the NIC's option ROM is visible in its BAR.
        public var romBar: Bool?
        /// `<rom file>`: the option ROM image; `<rom enabled='no'>` loads none (an empty file).
        public var romFile: String?
        public var alias: String?
        /// `<acpi index>` (a PCI device's; QEMU's `acpi-index`).
        public var acpiIndex: UInt32?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?
        /// `<driver>` of a virtio NIC.
        public var driver: Driver?
        /// `<mtu size>`: the MTU of the tap and of the guest's virtio NIC.
        public var mtu: Int?
        /// `<coalesce><rx><frames max>`: how many frames the tap batches before waking its reader.
        public var coalesceRxFrames: UInt32?

        /// Whether the NIC is one of the virtio models.
        public var isVirtio: Bool { [.virtio, .virtioTransitional, .virtioNonTransitional].contains(model ?? .virtio) }

        static let schema = ElementSchema("interface", attributes: ["type"], children: [
            ElementSchema("source", attributes: ["network", "bridge", "dev", "mode", "portgroup", "portid", "type", "path", "address", "port"], children: [
                ElementSchema("reconnect", attributes: ["enabled", "timeout"]), ElementSchema("local", attributes: ["address", "port"]),
            ]),
            ElementSchema("target", attributes: ["dev"]), ElementSchema("script", attributes: ["path"]), ElementSchema("downscript", attributes: ["path"]),
            ElementSchema("bandwidth", children: [
                ElementSchema("inbound", attributes: ["average", "peak", "burst", "floor"]), ElementSchema("outbound", attributes: ["average", "peak", "burst"]),
            ]),
            ElementSchema("model", attributes: ["type"]), ElementSchema("port", attributes: ["isolated"]),
            ElementSchema("mac", attributes: ["address"]), ElementSchema("link", attributes: ["state"]), .boot, .alias, .acpi, .address,
            ElementSchema("rom", attributes: ["bar", "file", "enabled"]), Driver.schema, ElementSchema("mtu", attributes: ["size"]),
            ElementSchema("coalesce", children: [ElementSchema("rx", children: [ElementSchema("frames", attributes: ["max"])])]),
            GuestIPAddress.schema, ElementSchema("backend", attributes: ["tap", "vhost"]),
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            let source = element.element(named: "source")
            type = try Kind.attribute("type", of: element, default: .user)
            script = element.element(named: "script")?[attribute: "path"]
            downscript = element.element(named: "downscript")?[attribute: "path"]
            // libvirt 9.0 knows one `<backend type>`, passt, and refuses it at define: its
            // passt support shipped disabled (virDomainNetBackendParseXML). Any other value is
            // not in its list, refused the same way.
            if let backend = element.element(named: "backend"), let kind = backend[attribute: "type"] {
                throw DomainXMLError(.invalid, line: backend.line, "Invalid value for attribute 'type' in element 'backend': '\(kind)'.")
            }
            tapDevicePath = element.element(named: "backend")?[attribute: "tap"]
            vhostDevicePath = element.element(named: "backend")?[attribute: "vhost"]
            var addresses: [GuestIPAddress] = []
            for ip in element.elements(named: "ip") { addresses.append(try GuestIPAddress(ip)) }
            guestIPAddresses = addresses
            if type == .user { try Self.checkUserModeAddresses(addresses, line: element.line) }
            self.source = source?[attribute: "network"] ?? source?[attribute: "bridge"] ?? source?[attribute: "dev"]
            portGroup = source?[attribute: "portgroup"]
            portID = source?[attribute: "portid"]
            networkBridge = type == .network ? source?[attribute: "bridge"] : nil
            targetDevice = element.element(named: "target")?[attribute: "dev"]
            bandwidth = try element.element(named: "bandwidth").map(Bandwidth.init)
            portIsolated = try AttributeValues.yesNo("isolated", of: element.element(named: "port"))
            if type == .direct {
                // libvirt's reading (virDomainNetDefParseXML): a source with a device, `vepa` by default.
                guard let source else { throw DomainXMLError(.invalid, line: element.line, "interface type='direct' requires a 'source' element") }
                guard source[attribute: "dev"] != nil else {
                    throw DomainXMLError(.invalid, line: source.line, "Missing required attribute 'dev' in element 'source'")
                }
                directMode = try DirectMode.attribute("mode", of: source, default: .vepa)
            }
            if type == .vhostuser { vhostUser = try Self.vhostUserSource(source, line: element.line) }
            if [.server, .client, .mcast, .udp].contains(type) { socket = try Self.socketSource(source, type: type, line: element.line) }
            model = element.element(named: "model")?[attribute: "type"].map(Model.init)
            mac = element.element(named: "mac")?[attribute: "address"]
            // libvirt's virDomainNetDefValidatePortOptions: only a bridge's port is isolated.
            if portIsolated == true && type != .network && type != .bridge {
                throw DomainXMLError(
                    .unsupported, line: element.line,
                    "interface \(mac ?? "") - <port isolated='yes'/> is not supported for network interfaces with type='\(type.rawValue)'")
            }
            bootOrder = DeviceCommon.bootOrder(element)
            if let link = element.element(named: "link") {
                guard let state = link[attribute: "state"], state == "up" || state == "down" else {
                    throw DomainXMLError(.invalid, line: link.line, "unknown interface link state '\(link[attribute: "state"] ?? "")'")
                }
                linkUp = state == "up"
            } else {
                linkUp = true
            }
            alias = DeviceCommon.alias(element)
            acpiIndex = try DeviceCommon.acpiIndex(element)
            if let rom = element.element(named: "rom") {
                if let bar = rom[attribute: "bar"] {
                    guard bar == "on" || bar == "off" else { throw DomainXMLError(.invalid, line: rom.line, "unknown rom bar value '\(bar)'") }
                    romBar = bar == "on"
                }
                if let enabled = rom[attribute: "enabled"] {
                    guard enabled == "yes" || enabled == "no" else { throw DomainXMLError(.invalid, line: rom.line, "Invalid value for attribute 'enabled' in element 'rom': '\(enabled)'.") }
                    if enabled == "no" {
                        guard rom[attribute: "bar"] == nil && rom[attribute: "file"] == nil else {
                            throw DomainXMLError(.invalid, line: rom.line, "ROM tuning is not supported when ROM is disabled")
                        }
                        romFile = ""
                    }
                }
                if let file = rom[attribute: "file"] { romFile = file }
            }
            pciAddress = try PCIAddress(device: element)
            if isVirtio, let driver = element.element(named: "driver") {
                self.driver = try Driver(driver)
            } else if let driver = element.element(named: "driver") {
                try VirtioOptions(driver).checkAbsent(line: driver.line)
            }
            // libvirt's virDomainNetDefCoalesceParseXML and the QEMU driver's check.
            if let frames = element.element(named: "coalesce")?.element(named: "rx")?.element(named: "frames"), let text = frames[attribute: "max"] {
                guard let value = UInt64(text) else { throw DomainXMLError(.invalid, line: frames.line, "cannot parse value '\(text)' for coalesce parameter") }
                guard let count = UInt32(exactly: value) else {
                    throw DomainXMLError(.invalid, line: frames.line, "value '\(value)' is too big for coalesce parameter, maximum is '\(UInt32.max)'")
                }
                coalesceRxFrames = count == 0 ? nil : count
                guard coalesceRxFrames == nil || type == .network || type == .bridge else {
                    throw DomainXMLError(.unsupported, line: element.line, "coalesce settings on interface type \(type.rawValue) are not supported")
                }
            }
            if let text = element.element(named: "mtu")?[attribute: "size"] {
                guard let size = UInt32(text) else { throw DomainXMLError(.invalid, line: element.line, "malformed mtu size") }
                mtu = size == 0 ? nil : Int(size)
                // The QEMU driver's check (qemuDomainNetSupportsMTU).
                guard mtu == nil || [.network, .bridge, .ethernet, .vhostuser].contains(type) else {
                    throw DomainXMLError(.unsupported, line: element.line, "setting MTU on interface type \(type.rawValue) is not supported yet")
                }
            }
        }
    }
}

extension DomainDefinition.Interface {
    /// A `vhostuser` interface's `<source>`, read as libvirt reads it, with its messages.
    static func vhostUserSource(_ source: XMLElement?, line: Int) throws(DomainXMLError) -> VhostUserSource {
        guard let source else { throw DomainXMLError(.internalError, line: line, "Missing source element for interface type 'vhostuser'") }
        guard let type = source[attribute: "type"] else {
            throw DomainXMLError(.invalid, line: source.line, "Missing required attribute 'type' in element 'source'")
        }
        guard type == "unix" else { throw DomainXMLError(.unsupported, line: source.line, "Type='\(type)' unsupported for <interface type='vhostuser'>") }
        guard let path = source[attribute: "path"] else {
            throw DomainXMLError(.invalid, line: source.line, "Missing required attribute 'path' in element 'source'")
        }
        guard let mode = source[attribute: "mode"] else {
            throw DomainXMLError(.invalid, line: source.line, "Missing required attribute 'mode' in element 'source'")
        }
        guard mode == "server" || mode == "client" else {
            throw DomainXMLError(.invalid, line: source.line, "Invalid value for attribute 'mode' in element 'source': '\(mode)'.")
        }
        let reconnect = try AttributeValues.reconnect(of: source)
        // libvirt's check (virDomainChrSourceDefValidate).
        if let reconnect, mode == "server" {
            throw DomainXMLError(.internalError, line: reconnect.element.line, "chardev reconnect is possible only for connect mode")
        }
        return VhostUserSource(path: path, qemuListens: mode == "server", reconnectSeconds: reconnect?.seconds)
    }

    /// A socket interface's `<source>`, read as libvirt reads it (virDomainNetDefParseXML), with
    /// its messages: an address except for `server`, a port, and for `udp` a `<local>` end.
    static func socketSource(_ source: XMLElement?, type: Kind, line: Int) throws(DomainXMLError) -> SocketSource {
        guard let source else { throw DomainXMLError(.invalid, line: line, "interface type='\(type.rawValue)' requires a 'source' element") }
        func port(of element: XMLElement) throws(DomainXMLError) -> Int32 {
            guard let text = element[attribute: "port"] else {
                throw DomainXMLError(.invalid, line: element.line, "Missing required attribute 'port' in element '\(element.name)'")
            }
            guard let value = Int32(text) else {
                throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute 'port' in element '\(element.name)': '\(text)'. Expected integer value")
            }
            return value
        }
        func address(of element: XMLElement) throws(DomainXMLError) -> String {
            guard let address = element[attribute: "address"] else {
                throw DomainXMLError(.invalid, line: element.line, "Missing required attribute 'address' in element '\(element.name)'")
            }
            return address
        }
        var socket = SocketSource(address: type == .server ? source[attribute: "address"] : try address(of: source), port: try port(of: source))
        if type == .udp {
            guard let local = source.element(named: "local") else {
                throw DomainXMLError(.invalid, line: source.line, "'<local>' element missing for 'udp' socket interface")
            }
            socket.localAddress = try address(of: local)
            socket.localPort = try port(of: local)
        }
        return socket
    }

    /// libvirt's checks of a user-mode interface's `<ip>`s (`qemuValidateDomainDeviceDefNetwork`):
    /// no peer, one address of each family, an IPv4 prefix of 4–27, an IPv6 prefix of 64.
    static func checkUserModeAddresses(_ addresses: [DomainDefinition.GuestIPAddress], line: Int) throws(DomainXMLError) {
        var seen: Set<DomainDefinition.GuestIPAddress.Family> = []
        for ip in addresses {
            if ip.peer != nil { throw DomainXMLError(.unsupported, line: line, "Invalid attempt to set peer IP for guest") }
            guard seen.insert(ip.family).inserted else {
                throw DomainXMLError(.unsupported, line: line, "Only one \(ip.family == .ipv4 ? "IPv4" : "IPv6") address per interface is allowed")
            }
            switch ip.family {
            case .ipv4:
                if let prefix = ip.prefix, !(4...27).contains(prefix) { throw DomainXMLError(.invalid, line: line, "invalid prefix, must be in range of 4-27") }
            case .ipv6:
                if let prefix = ip.prefix, prefix != 64 { throw DomainXMLError(.unsupported, line: line, "unsupported IPv6 address prefix='\(prefix)' - must be 64") }
            }
        }
    }
}
