import CorralNetwork
import Testing

@Suite("dnsmasq files, firewall rules and leases")
struct HostConfigurationTests {
    static let paths = DnsmasqConfiguration.Paths(
        pidFile: "/run/corral/networks/N/dnsmasq.pid", hostsFile: "/run/corral/networks/N/dnsmasq.hostsfile",
        additionalHostsFile: "/run/corral/networks/N/dnsmasq.addnhosts", leaseFile: "/run/corral/networks/N/dnsmasq.leases")

    @Test("dnsmasq's configuration and hosts files follow libvirt's for each mode", arguments: ["nat-full", "isolated", "route-dev", "open"])
    func dnsmasq(name: String) throws {
        let definition = try NetworkDefinitionTests.parse(try NetworkGolden.input(name))
        #expect(DnsmasqConfiguration.isNeeded(for: definition))
        let files = try DnsmasqConfiguration(definition, paths: Self.paths)
        try NetworkGolden.check(files.configuration + "## hostsfile\n" + files.hosts + "## addnhosts\n" + files.additionalHosts, name + ".dnsmasq")
    }

    @Test("a value with a line break cannot add a line (an option) to dnsmasq's files")
    func injection() throws {
        for extra in [
            "<dns><txt name='t' value='a&#10;dhcp-script=/bin/evil'/></dns>", "<domain name='x&#10;conf-file=/etc/shadow'/>",
            "<ip address='10.0.0.1' prefix='24'><dhcp><host mac='52:54:00:00:00:01' name='a&#10;b' ip='10.0.0.5'/></dhcp></ip>",
            "<dns><host ip='10.0.0.9'><hostname>a b</hostname></host></dns>",
        ] {
            var definition = try NetworkDefinitionTests.parse("<network><name>n</name><bridge name='virbr5'/><ip address='10.9.0.1' prefix='24'/>\(extra)</network>")
            definition.bridge.name = "virbr5"
            #expect(throws: NetworkError.self) { try DnsmasqConfiguration(definition, paths: Self.paths) }
        }
    }

    @Test("networks without a bridge of the daemon's need no dnsmasq and no rules")
    func unmanaged() throws {
        for name in ["bridge", "hostdev", "private"] {
            let definition = try NetworkDefinitionTests.parse(try NetworkGolden.input(name))
            #expect(!DnsmasqConfiguration.isNeeded(for: definition))
            #expect(try FirewallRuleset(definition).script.isEmpty)
        }
        #expect(try FirewallRuleset(try NetworkDefinitionTests.parse(try NetworkGolden.input("open"))).script.isEmpty)
    }

    @Test("each network's nftables table holds libvirt's rules for its mode", arguments: ["nat-full", "isolated", "route-dev"])
    func firewall(name: String) throws {
        var definition = try NetworkDefinitionTests.parse(try NetworkGolden.input(name))
        if definition.bridge.name == nil { definition.bridge.name = "virbr3" }
        let rules = try FirewallRuleset(definition)
        #expect(rules.script.hasPrefix("add table inet \(rules.tableName)\ndelete table inet \(rules.tableName)\n"))
        try NetworkGolden.check(rules.script, name + ".nft")
    }

    @Test("names that could change an nft script's meaning are refused")
    func unsafeNames() throws {
        var definition = try NetworkDefinitionTests.parse(try NetworkGolden.input("isolated"))
        for name in ["a\"b", "has space", "sixteen-chars-xx", "", "a\\b", "a;b\nc"] {
            definition.bridge.name = name
            #expect(throws: NetworkError.self) { try FirewallRuleset(definition) }
        }
    }

    @Test("dnsmasq's lease file: IPv4 and IPv6 leases, absent fields, and lines that do not read")
    func leases() {
        let text = """
            1764604080 52:54:00:aa:bb:01 192.168.122.55 corral-guest 01:52:54:00:aa:bb:01
            0 52:54:00:aa:bb:02 192.168.122.56 * *
            garbage line
            -5 52:54:00:aa:bb:03 192.168.122.57 x y
            1764604080 zz:54:00:aa:bb:04 192.168.122.58 x y
            duid 00:01:00:01:2c:0e:aa:bb:52:54:00:12:34:56
            1764604090 1234567 2001:db8::20 paul 00:04:7e:7d
            """
        let leases = DHCPLease.parseLeaseFile(text, interface: "virbr0") { $0.family == .ipv4 ? 24 : 64 }
        #expect(leases.count == 3)
        let first = leases[0]
        #expect(first.interface == "virbr0" && first.expiry == 1764604080 && first.family == .ipv4 && first.mac == "52:54:00:aa:bb:01" && first.iaid == nil)
        #expect(first.address == IPAddress("192.168.122.55") && first.prefix == 24 && first.hostname == "corral-guest" && first.clientID == "01:52:54:00:aa:bb:01")
        #expect(leases[1].hostname == nil && leases[1].clientID == nil && leases[1].expiry == 0)
        #expect(leases[2].family == .ipv6 && leases[2].iaid == "1234567" && leases[2].mac == nil && leases[2].prefix == 64)
    }
}

@Suite("traffic control")
struct TrafficShapingTests {
    @Test("<bandwidth> becomes libvirt's tc lines: an HTB class for inbound, a u32 police filter for outbound")
    func lines() {
        var inbound = NetworkDefinition.Rate()
        inbound.average = 1000
        inbound.peak = 2000
        inbound.burst = 64
        var outbound = NetworkDefinition.Rate()
        outbound.average = 500
        #expect(TrafficShaping.inboundCommands(device: "vnet0", inbound) == [
            "qdisc add dev vnet0 root handle 1: htb default 1", "class add dev vnet0 parent 1: classid 1:1 htb rate 1000kbps ceil 2000kbps burst 64kb",
        ])
        #expect(TrafficShaping.outboundCommands(device: "vnet0", outbound) == [
            "qdisc add dev vnet0 ingress",
            "filter add dev vnet0 parent ffff: protocol all u32 match u32 0 0 police rate 500kbps burst 500kb mtu 64kb drop flowid :1",
        ])
        #expect(TrafficShaping.inboundCommands(device: "vnet0", NetworkDefinition.Rate()).isEmpty)
        #expect(TrafficShaping.outboundCommands(device: "vnet0", nil).isEmpty)
    }
}
