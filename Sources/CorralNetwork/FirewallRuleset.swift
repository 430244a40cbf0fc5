/// The firewall rules of one network, as an nftables script in a table of the network's own.
///
/// libvirt 9.0 puts its rules in shared iptables chains (`LIBVIRT_FWO` …); Corral puts each
/// network's rules in one nftables table, `inet corral_<uuid>`, replaced in one transaction when
/// the network starts and deleted when it stops, so it never touches a rule it did not create and
/// a crash leaves at most a table that the next start or destroy replaces (docs/decisions.md).
/// The rules are libvirt's, family by family: DHCP and DNS to and from the bridge, guest-to-guest
/// traffic on the bridge, forwarding to and from the subnet (nat: replies only inbound; route:
/// both ways), masquerading (or SNAT to `<nat><address>`) to other networks, and everything else
/// in or out of the bridge rejected. Open and bridge networks get no table.
public struct FirewallRuleset: Hashable, Sendable {
    /// The table's name (`corral_` and the network's UUID without dashes).
    public var tableName: String
    /// The `nft -f` script that replaces the table (empty when the network has no rules).
    public var script: String

    /// The table name of the network with `uuid`.
    public static func tableName(uuid: String) -> String { "corral_" + uuid.filter { $0 != "-" } }

    /// The script that deletes the table if it exists (used by destroy and clean-up after a crash).
    public static func deleteScript(tableName: String) -> String {
        "add table inet \(tableName)\ndelete table inet \(tableName)\n"
    }

    /// Whether a network of this mode gets rules.
    public static func hasRules(_ definition: NetworkDefinition) -> Bool {
        guard let forward = definition.forward else { return true }
        return forward.mode == .nat || forward.mode == .route
    }

    public init(_ definition: NetworkDefinition) throws(NetworkError) {
        tableName = Self.tableName(uuid: definition.uuid)
        guard Self.hasRules(definition) else {
            script = ""
            return
        }
        guard let bridge = definition.bridge.name, Self.isSafeName(bridge) else {
            throw NetworkError(.internalError, "bridge name '\(definition.bridge.name ?? "")' cannot be used in firewall rules")
        }
        let device = definition.forward?.interfaces.first
        if let device, !Self.isSafeName(device) { throw NetworkError(.internalError, "forward device '\(device)' cannot be used in firewall rules") }
        let mode = definition.forward?.mode
        let br = "\"\(bridge)\""
        var input: [String] = [], output: [String] = [], forward: [String] = [], postrouting: [String] = []
        for family in [IPAddress.Family.ipv4, .ipv6] where !definition.ips(of: family).isEmpty {
            let dhcpServer = family == .ipv4 ? "67" : "547", dhcpClient = family == .ipv4 ? "68" : "546"
            let tftp = family == .ipv4 && definition.ips.contains { $0.tftpRoot != nil } ? ", 69" : ""
            input.append("iifname \(br) meta nfproto \(family) udp dport { 53, \(dhcpServer)\(tftp) } accept")
            input.append("iifname \(br) meta nfproto \(family) tcp dport { 53, \(dhcpServer) } accept")
            output.append("oifname \(br) meta nfproto \(family) udp dport { 53, \(dhcpClient) } accept")
            output.append("oifname \(br) meta nfproto \(family) tcp dport { 53, \(dhcpClient) } accept")
        }
        forward.append("iifname \(br) oifname \(br) accept")
        if let mode, mode == .nat || mode == .route {
            let inDevice = device.map { "iifname \"\($0)\" " } ?? "", outDevice = device.map { "oifname \"\($0)\" " } ?? ""
            for ip in definition.ips {
                guard let prefix = ip.effectivePrefix else { continue }
                let selector = ip.address.family == .ipv4 ? "ip" : "ip6"
                let subnet = "\(ip.address.masked(prefix: prefix))/\(prefix)"
                let replyOnly = mode == .nat && (ip.address.family == .ipv4 || definition.forward?.nat?.ipv6 == true) ? " ct state related,established" : ""
                if mode == .nat && ip.address.family == .ipv6 && definition.forward?.nat?.ipv6 != true {
                    // libvirt routes IPv6 on a NAT network unless <nat ipv6='yes'>.
                    forward.append("\(inDevice)oifname \(br) \(selector) daddr \(subnet) accept")
                } else {
                    forward.append("\(inDevice)oifname \(br) \(selector) daddr \(subnet)\(replyOnly) accept")
                }
                forward.append("iifname \(br) \(outDevice)\(selector) saddr \(subnet) accept")
                guard mode == .nat, ip.address.family == .ipv4 || definition.forward?.nat?.ipv6 == true else { continue }
                let nat = definition.forward?.nat
                if ip.address.family == .ipv4 {
                    postrouting.append("\(selector) saddr \(subnet) \(selector) daddr 224.0.0.0/24 return")
                    postrouting.append("\(selector) saddr \(subnet) \(selector) daddr 255.255.255.255 return")
                } else {
                    postrouting.append("\(selector) saddr \(subnet) \(selector) daddr ff02::/16 return")
                }
                let ports = nat.flatMap { $0.portStart == 0 && $0.portEnd == 0 ? nil : "\($0.portStart)-\($0.portEnd)" } ?? "1024-65535"
                let match = "\(selector) saddr \(subnet) \(selector) daddr != \(subnet) \(outDevice)"
                if ip.address.family == .ipv4, let start = nat?.addressStart, let end = nat?.addressEnd {
                    let addresses = start == end ? "\(start)" : "\(start)-\(end)"
                    postrouting.append("meta l4proto { tcp, udp } \(match)snat ip to \(addresses):\(ports)")
                    postrouting.append("\(match)snat ip to \(addresses)")
                } else {
                    postrouting.append("meta l4proto { tcp, udp } \(match)masquerade to :\(ports)")
                    postrouting.append("\(match)masquerade")
                }
            }
        }
        forward.append("oifname \(br) reject")
        forward.append("iifname \(br) reject")
        var text = "add table inet \(tableName)\ndelete table inet \(tableName)\ntable inet \(tableName) {\n"
        func chain(_ name: String, _ hook: String, _ priority: String, _ rules: [String], type: String = "filter") {
            guard !rules.isEmpty else { return }
            text += "  chain \(name) {\n    type \(type) hook \(hook) priority \(priority); policy accept;\n"
            for rule in rules { text += "    \(rule)\n" }
            text += "  }\n"
        }
        chain("guest_input", "input", "filter", input)
        chain("guest_output", "output", "filter", output)
        chain("guest_forward", "forward", "filter", forward)
        chain("guest_nat", "postrouting", "srcnat", postrouting, type: "nat")
        text += "}\n"
        script = text
    }

    /// An interface name that can be quoted in an nft script: 1–15 bytes, no quote, backslash,
    /// slash, colon or white space (the kernel's own rules, and nothing nft would read as syntax).
    public static func isSafeName(_ name: String) -> Bool {
        guard (1...15).contains(name.utf8.count) else { return false }
        return name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") }
    }
}
