public import XMLTree

/// A virtual network's definition (`<network>`), as libvirt's `virNetworkDef`.
///
/// Read with ``parse(_:newUUID:)`` (libvirt's checks and messages), written with
/// ``NetworkXMLFormatter``; ``NetworkValidation`` adds what libvirt's network driver checks and
/// fills in at define time (bridge name, bridge MAC).
public struct NetworkDefinition: Hashable, Sendable {
    /// `<forward mode>`.
    public enum ForwardMode: String, Hashable, Sendable, CaseIterable {
        case nat, route, open, bridge, `private`, vepa, passthrough, hostdev

        /// Whether the daemon makes the bridge and its addresses (nat, route, open; isolated has
        /// no `<forward>`): the modes with `<bridge stp delay>`, `<ip>`, DHCP and DNS.
        public var hasManagedBridge: Bool { self == .nat || self == .route || self == .open }
    }

    /// `<forward><nat>`.
    public struct NAT: Hashable, Sendable {
        /// `ipv6='yes|no'`.
        public var ipv6: Bool?
        /// `<address start end>`: the source addresses SNAT picks from.
        public var addressStart: IPAddress?
        public var addressEnd: IPAddress?
        /// `<port start end>`: the source ports SNAT and masquerade pick from.
        public var portStart: UInt32 = 0
        public var portEnd: UInt32 = 0

        public init() {}
    }

    /// A PCI address in `<forward><address type='pci'>`.
    public struct PCIAddress: Hashable, Sendable {
        public var domain: UInt32, bus: UInt32, slot: UInt32, function: UInt32
    }

    /// `<forward>`.
    public struct Forward: Hashable, Sendable {
        public var mode: ForwardMode
        /// `dev` and `<interface dev>`, in order (the first is `dev`).
        public var interfaces: [String] = []
        /// `<address type='pci'>` devices (hostdev mode).
        public var pciAddresses: [PCIAddress] = []
        /// `<pf dev>`.
        public var physicalFunction: String?
        /// `managed='yes'` (hostdev).
        public var managed = false
        /// `<driver name>` (hostdev: kvm, vfio).
        public var driverName: String?
        /// `<nat>` (nat mode).
        public var nat: NAT?

        public init(mode: ForwardMode) { self.mode = mode }
    }

    /// `<bridge>`.
    public struct Bridge: Hashable, Sendable {
        /// `name`: the host bridge (made by the daemon, or an existing one in bridge mode); may be
        /// a template with `%d`.
        public var name: String?
        /// `zone` (firewalld).
        public var zone: String?
        /// `stp`: spanning tree, on unless `off`.
        public var stp = true
        /// Whether `stp` was written (libvirt refuses it outside the routed modes).
        public var stpGiven = false
        /// `delay`: forward delay in seconds.
        public var delay: UInt64 = 0
        /// `macTableManager` (kernel, libvirt).
        public var macTableManager: String?

        public init() {}
    }

    /// `<domain name localOnly>`.
    public struct DNSDomain: Hashable, Sendable {
        public var name: String
        public var localOnly: Bool?
    }

    /// `<dns><forwarder>`.
    public struct DNSForwarder: Hashable, Sendable {
        public var domain: String?
        public var address: IPAddress?
    }

    /// `<dns><txt>`.
    public struct DNSText: Hashable, Sendable {
        public var name: String
        public var value: String
    }

    /// `<dns><srv>`.
    public struct DNSService: Hashable, Sendable {
        public var service: String?
        public var `protocol`: String?
        public var domain: String?
        public var target: String?
        public var port: UInt32 = 0
        public var priority: UInt32 = 0
        public var weight: UInt32 = 0
    }

    /// `<dns><host ip><hostname>…`.
    public struct DNSHost: Hashable, Sendable {
        public var ip: IPAddress?
        public var hostnames: [String]
    }

    /// `<dns>`.
    public struct DNS: Hashable, Sendable {
        /// `enable='yes|no'`: `no` turns dnsmasq's DNS off (`port=0`).
        public var enable: Bool?
        public var forwardPlainNames: Bool?
        public var forwarders: [DNSForwarder] = []
        public var texts: [DNSText] = []
        public var services: [DNSService] = []
        public var hosts: [DNSHost] = []

        public init() {}

        var isEmpty: Bool { enable == nil && forwardPlainNames == nil && forwarders.isEmpty && texts.isEmpty && services.isEmpty && hosts.isEmpty }
    }

    /// `<lease expiry unit>` of a DHCP range or host.
    public struct LeaseTime: Hashable, Sendable {
        public enum Unit: String, Hashable, Sendable { case seconds, minutes, hours }
        /// 0 = infinite.
        public var expiry: UInt64
        public var unit: Unit
    }

    /// `<dhcp><range start end>`.
    public struct DHCPRange: Hashable, Sendable {
        public var start: IPAddress
        public var end: IPAddress
        public var lease: LeaseTime?
    }

    /// `<dhcp><host mac id name ip>`.
    public struct DHCPHost: Hashable, Sendable {
        public var mac: String?
        public var id: String?
        public var name: String?
        public var ip: IPAddress?
        public var lease: LeaseTime?

        public init(mac: String? = nil, id: String? = nil, name: String? = nil, ip: IPAddress? = nil, lease: LeaseTime? = nil) {
            self.mac = mac
            self.id = id
            self.name = name
            self.ip = ip
            self.lease = lease
        }
    }

    /// `<ip>`.
    public struct IP: Hashable, Sendable {
        /// `family` as written (`ipv4`, `ipv6`), if written.
        public var family: String?
        public var address: IPAddress
        public var netmask: IPAddress?
        /// `prefix`, 0 when not written.
        public var prefix: UInt32 = 0
        public var localPTR: Bool?
        /// `<tftp root>`.
        public var tftpRoot: String?
        public var ranges: [DHCPRange] = []
        public var hosts: [DHCPHost] = []
        /// `<bootp file server>`.
        public var bootFile: String?
        public var bootServer: IPAddress?

        public init(address: IPAddress) { self.address = address }

        /// The prefix length in effect: `prefix`, else the netmask's, else the address's natural
        /// prefix (libvirt's `virNetworkIPDefPrefix`); `nil` when none can be found.
        public var effectivePrefix: Int? {
            if prefix > 0 { return Int(prefix) }
            if let netmask { return netmask.netmaskPrefix }
            return address.naturalPrefix
        }

        /// Whether DHCP is configured on this address.
        public var hasDHCP: Bool { !ranges.isEmpty || !hosts.isEmpty }
    }

    /// `<route address prefix|netmask gateway metric>`.
    public struct Route: Hashable, Sendable {
        public var family: String?
        public var address: IPAddress
        public var netmask: IPAddress?
        public var prefix: UInt32?
        public var gateway: IPAddress
        public var metric: UInt32?
    }

    /// `<bandwidth><inbound|outbound average peak burst floor>` (kilobytes per second, kibibytes).
    public struct Rate: Hashable, Sendable {
        public var average: UInt64 = 0
        public var peak: UInt64 = 0
        public var burst: UInt64 = 0
        public var floor: UInt64 = 0

        public init() {}
    }

    /// `<bandwidth>`.
    public struct Bandwidth: Hashable, Sendable {
        public var inbound: Rate?
        public var outbound: Rate?

        public init() {}
    }

    /// `<vlan trunk><tag id nativeMode>`.
    public struct VLAN: Hashable, Sendable {
        public struct Tag: Hashable, Sendable {
            public var id: UInt32
            public var nativeMode: String?
        }
        public var trunk: Bool?
        public var tags: [Tag] = []
    }

    /// `<portgroup name default trustGuestRxFilters>`.
    public struct PortGroup: Hashable, Sendable {
        public var name: String
        public var isDefault = false
        public var trustGuestRxFilters: Bool?
        public var vlan: VLAN?
        /// `<virtualport>`, kept as written.
        public var virtualPort: XMLElement?
        public var bandwidth: Bandwidth?

        public init(name: String) { self.name = name }
    }

    public var name: String
    /// The UUID, canonical (lowercase, dashed).
    public var uuid: String
    /// `ipv6='yes'`: guest-to-guest IPv6 without a gateway address.
    public var ipv6WithoutGateway = false
    public var trustGuestRxFilters: Bool?
    /// `<metadata>`, kept as written.
    public var metadata: XMLElement?
    /// `<forward>`; `nil` is an isolated network.
    public var forward: Forward?
    public var bridge = Bridge()
    public var mtu: UInt32?
    /// `<mac address>`: the bridge's MAC (made at define for the routed modes).
    public var mac: MACAddress?
    public var domain: DNSDomain?
    public var dns = DNS()
    public var vlan: VLAN?
    public var bandwidth: Bandwidth?
    /// `<port isolated>`.
    public var portIsolated: Bool?
    public var ips: [IP] = []
    public var routes: [Route] = []
    /// `<virtualport>`, kept as written.
    public var virtualPort: XMLElement?
    public var portGroups: [PortGroup] = []

    public init(name: String, uuid: String) {
        self.name = name
        self.uuid = uuid
    }

    /// Whether the daemon makes this network's bridge: isolated, nat, route and open.
    public var hasManagedBridge: Bool { forward.map { $0.mode.hasManagedBridge } ?? true }

    /// The forward mode's name as libvirt prints it in messages (`none` for isolated).
    public var forwardModeName: String { forward?.mode.rawValue ?? "none" }

    /// The addresses of one family.
    public func ips(of family: IPAddress.Family) -> [IP] { ips.filter { $0.address.family == family } }

    /// The `<ip>` with DHCP in `family`, if any (libvirt allows one per family).
    public func dhcpIP(_ family: IPAddress.Family) -> IP? { ips.first { $0.address.family == family && $0.hasDHCP } }

    /// The port group `name`, or the default one when `name` is `nil`.
    public func portGroup(named name: String?) -> PortGroup? {
        if let name { return portGroups.first { $0.name == name } }
        return portGroups.first { $0.isDefault }
    }
}
