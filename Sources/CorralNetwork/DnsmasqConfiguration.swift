/// The files dnsmasq reads for one network, as libvirt's `networkDnsmasqConfContents` writes
/// them: the configuration, the DHCP hosts file (`dhcp-hostsfile`) and the DNS hosts file
/// (`addn-hosts`). Pure: the daemon writes them and starts dnsmasq.
public struct DnsmasqConfiguration: Hashable, Sendable {
    /// Where the files live.
    public struct Paths: Hashable, Sendable {
        public var pidFile: String
        public var hostsFile: String
        public var additionalHostsFile: String
        public var leaseFile: String

        public init(pidFile: String, hostsFile: String, additionalHostsFile: String, leaseFile: String) {
            self.pidFile = pidFile
            self.hostsFile = hostsFile
            self.additionalHostsFile = additionalHostsFile
            self.leaseFile = leaseFile
        }
    }

    /// `dnsmasq.conf`.
    public var configuration: String
    /// `dhcp-hostsfile`: one static DHCP host per line.
    public var hosts: String
    /// `addn-hosts`: DNS names, one address per line.
    public var additionalHosts: String

    /// Whether a network needs dnsmasq at all (libvirt's `networkStartDhcpDaemon`): it has
    /// addresses and serves DHCP, TFTP or DNS on them.
    public static func isNeeded(for definition: NetworkDefinition) -> Bool {
        guard definition.hasManagedBridge, !definition.ips.isEmpty else { return false }
        return definition.ips.contains { $0.hasDHCP || $0.tftpRoot != nil } || definition.dns.enable != false
    }

    /// The files for `definition` (its bridge name must be set).
    public init(_ definition: NetworkDefinition, paths: Paths) throws(NetworkError) {
        let wantDNS = definition.dns.enable != false
        var lines = [
            "##WARNING:  THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE",
            "##OVERWRITTEN AND LOST.  Changes to this configuration should be made using:",
            "##    virsh net-edit \(definition.name)",
            "## or other application using the libvirt API.",
            "##",
            "## dnsmasq conf file created by Corral (libvirt's layout)",
            "strict-order",
        ]
        if !wantDNS { lines.append("port=0") }
        if wantDNS && !definition.dns.forwarders.isEmpty {
            var noResolv = false
            for forwarder in definition.dns.forwarders {
                var line = "server="
                if let domain = forwarder.domain { line += "/\(domain)/" }
                if let address = forwarder.address {
                    line += "\(address)"
                    if forwarder.domain == nil { noResolv = true }
                } else {
                    line += "#"
                }
                lines.append(line)
            }
            if noResolv { lines.append("no-resolv") }
        }
        if let domain = definition.domain {
            if domain.localOnly == true { lines.append("local=/\(domain.name)/") }
            lines += ["domain=\(domain.name)", "expand-hosts"]
        }
        if wantDNS {
            for ip in definition.ips where ip.localPTR == true {
                let prefix = ip.effectivePrefix ?? 0
                guard let domain = Self.pointerDomain(ip.address, prefix: prefix) else {
                    throw NetworkError(.configUnsupported, "PTR domain for \(ip.address.family == .ipv4 ? "IPv4" : "IPv6") network with prefix \(prefix) cannot be automatically created")
                }
                lines.append("local=/\(domain)/")
            }
            if definition.dns.forwardPlainNames == false { lines += ["domain-needed", "local=//"] }
        }
        lines += ["pid-file=\(paths.pidFile)", "except-interface=lo", "bind-dynamic", "interface=\(definition.bridge.name ?? "")"]
        if definition.forward == nil { lines += ["dhcp-option=3", "no-resolv", "ra-param=*,0,0"] }
        if wantDNS {
            for text in definition.dns.texts { lines.append("txt-record=\(text.name),\(text.value)") }
            for service in definition.dns.services {
                guard let name = service.service, let proto = service.protocol else { continue }
                var line = "srv-host=_\(name)._\(proto)"
                if let domain = service.domain { line += ".\(domain)" }
                if let target = service.target, target != "." {
                    line += ",\(target)"
                    if service.port != 0 || service.priority != 0 || service.weight != 0 { line += ",\(service.port != 0 ? service.port : 1)" }
                    if service.priority != 0 || service.weight != 0 { line += ",\(service.priority)" }
                    if service.weight != 0 { line += ",\(service.weight)" }
                }
                lines.append(line)
            }
        }
        for ip in definition.ips(of: .ipv4) where ip.tftpRoot != nil {
            lines += ["enable-tftp", "tftp-root=\(ip.tftpRoot!)"]
        }
        let ipv4 = definition.dhcpIP(.ipv4), ipv6 = definition.dhcpIP(.ipv6)
        var leaseCount = 0
        var hostLines: [String] = []
        for ip in [ipv4, ipv6].compactMap({ $0 }) {
            guard let prefix = ip.effectivePrefix else {
                throw NetworkError(.internalError, "bridge '\(definition.bridge.name ?? "")' has an invalid prefix")
            }
            for range in ip.ranges {
                var line = "dhcp-range=\(range.start),\(range.end),"
                line += ip.address.family == .ipv6 ? "\(prefix)" : "\(IPAddress.netmask(prefix: prefix, family: .ipv4))"
                if let lease = range.lease { line += ",\(Self.leaseTime(lease))" }
                lines.append(line)
                leaseCount += try AddressRange.size(start: range.start, end: range.end, network: ip.address, prefix: prefix)
            }
            if ip.ranges.isEmpty && !ip.hosts.isEmpty {
                lines.append("dhcp-range=\(ip.address),static" + (ip.address.family == .ipv6 ? ",\(prefix)" : ""))
            }
            for host in ip.hosts { hostLines.append(Self.hostLine(host, family: ip.address.family)) }
            if ip.address.family == .ipv4 {
                lines += ["dhcp-no-override", "dhcp-authoritative"]
                if let file = ip.bootFile { lines.append("dhcp-boot=\(file)" + (ip.bootServer.map { ",,\($0)" } ?? "")) }
            }
        }
        if leaseCount > 0 { lines.append("dhcp-lease-max=\(leaseCount)") }
        if ipv4 != nil || ipv6 != nil {
            lines.append("dhcp-hostsfile=\(paths.hostsFile)")
            lines.append("dhcp-leasefile=\(paths.leaseFile)")
        }
        if wantDNS { lines.append("addn-hosts=\(paths.additionalHostsFile)") }
        if let mtu = definition.mtu { lines.append("dhcp-option=option:mtu,\(mtu)") }
        if ipv6 != nil {
            lines.append("enable-ra")
        } else {
            for ip in definition.ips(of: .ipv6) where !ip.hasDHCP { lines.append("dhcp-range=\(ip.address),ra-only") }
        }
        // Every value is one line of dnsmasq's files: a line break in one (XML can carry `&#10;`)
        // would add an option of the writer's choosing, such as a script dnsmasq runs as root.
        for line in lines + hostLines where line.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" || $0.value == 0 }) {
            throw NetworkError(.configUnsupported, "network '\(definition.name)' has a value with a line break, which dnsmasq's configuration cannot hold: \(line.debugDescription)")
        }
        for host in definition.dns.hosts where host.hostnames.contains(where: { $0.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 } }) {
            throw NetworkError(.configUnsupported, "network '\(definition.name)' has a DNS host name with white space, which dnsmasq's hosts file cannot hold")
        }
        configuration = lines.joined(separator: "\n") + "\n"
        hosts = hostLines.map { $0 + "\n" }.joined()
        additionalHosts = definition.dns.hosts.compactMap { host in
            guard let ip = host.ip, !host.hostnames.isEmpty else { return nil }
            return "\(ip)\t" + host.hostnames.joined(separator: "\t") + "\n"
        }.joined()
    }

    /// dnsmasq's lease time: `infinite`, or the number and the unit's first letter.
    static func leaseTime(_ lease: NetworkDefinition.LeaseTime) -> String {
        lease.expiry == 0 ? "infinite" : "\(lease.expiry)\(lease.unit.rawValue.first!)"
    }

    /// One `dhcp-hostsfile` line (libvirt's `hostsfileAdd`).
    static func hostLine(_ host: NetworkDefinition.DHCPHost, family: IPAddress.Family) -> String {
        var fields: [String] = []
        let ip = host.ip.map { "\($0)" } ?? ""
        if family == .ipv6 {
            if let id = host.id { fields.append("id:\(id)") }
            if let name = host.name { fields.append(name) }
            fields.append("[\(ip)]")
        } else {
            if let mac = host.mac { fields.append(mac) }
            fields.append(ip)
            if let name = host.name { fields.append(name) }
        }
        if let lease = host.lease { fields.append(leaseTime(lease)) }
        return fields.joined(separator: ",")
    }

    /// The reverse-lookup zone of a network (`virSocketAddrPTRDomain`): whole octets for IPv4,
    /// whole nibbles for IPv6; `nil` when the prefix does not fall on one.
    public static func pointerDomain(_ address: IPAddress, prefix: Int) -> String? {
        let network = address.masked(prefix: prefix)
        if address.family == .ipv4 {
            guard prefix % 8 == 0 else { return nil }
            let octets = network.bytes.prefix(prefix / 8).reversed().map { "\($0)" }
            return (octets + ["in-addr", "arpa"]).joined(separator: ".")
        }
        guard prefix % 4 == 0 else { return nil }
        let nibbles = network.bytes.flatMap { [$0 >> 4, $0 & 0xF] }.prefix(prefix / 4).reversed().map { String($0, radix: 16) }
        return (nibbles + ["ip6", "arpa"]).joined(separator: ".")
    }
}
