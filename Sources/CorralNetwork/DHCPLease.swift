/// One DHCP lease, as `virNetworkGetDHCPLeases` reports it.
public struct DHCPLease: Hashable, Sendable {
    /// The bridge the lease was given on.
    public var interface: String
    /// Seconds since the epoch when it expires (0 = never).
    public var expiry: Int64
    public var family: IPAddress.Family
    public var mac: String?
    /// The IAID (IPv6).
    public var iaid: String?
    public var address: IPAddress
    public var prefix: UInt32
    public var hostname: String?
    /// The client id (IPv4) or DUID (IPv6).
    public var clientID: String?

    /// The leases in dnsmasq's lease file (`dhcp-leasefile`): IPv4 lines `EXPIRY MAC IP NAME
    /// CLIENTID`, then after a `duid` line, IPv6 lines `EXPIRY IAID IP NAME DUID`; `*` is absent.
    /// Malformed lines are skipped. `prefix` gives each address's prefix length.
    public static func parseLeaseFile(_ text: String, interface: String, prefix: (IPAddress) -> UInt32) -> [DHCPLease] {
        var leases: [DHCPLease] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count >= 4, fields[0] != "duid", let expiry = Int64(fields[0]), expiry >= 0, let address = IPAddress(fields[2]) else { continue }
            func optional(_ index: Int) -> String? { index < fields.count && fields[index] != "*" ? fields[index] : nil }
            var lease = DHCPLease(
                interface: interface, expiry: expiry, family: address.family, mac: nil, iaid: nil, address: address, prefix: prefix(address),
                hostname: optional(3), clientID: optional(4))
            if address.family == .ipv4 {
                guard MACAddress(fields[1]) != nil else { continue }
                lease.mac = fields[1]
            } else {
                lease.iaid = fields[1]
            }
            leases.append(lease)
        }
        return leases
    }
}
