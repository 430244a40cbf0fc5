import CorralNetwork
import Testing

@Suite("network XML")
struct NetworkDefinitionTests {
    static func parse(_ xml: String) throws -> NetworkDefinition {
        try NetworkDefinition.parse(xml, newUUID: { "4109f7f1-0473-4372-8469-ecb7a74e6121" })
    }

    @Test("each forward mode's definition writes as libvirt writes it, and reads back the same", arguments: NetworkGolden.cases)
    func formats(name: String) throws {
        let definition = try Self.parse(try NetworkGolden.input(name))
        let text = NetworkXMLFormatter.format(definition)
        try NetworkGolden.check(text, name + ".xml")
        #expect(NetworkXMLFormatter.format(try Self.parse(text)) == text)
    }

    @Test("a running network shows its connections; --inactive does not")
    func connections() throws {
        let definition = try Self.parse(try NetworkGolden.input("isolated"))
        #expect(NetworkXMLFormatter.format(definition, connections: 2, inactive: false).hasPrefix("<network connections='2'>\n"))
        #expect(NetworkXMLFormatter.format(definition, connections: 2, inactive: true).hasPrefix("<network>\n"))
    }

    /// libvirt 9.0's messages for the same mistakes (virNetworkDefParseXML and its helpers).
    @Test("mistakes are refused with libvirt's messages", arguments: [
        ("<network/>", "(null)"),
        ("<network><name>a/b</name></network>", "invalid char in name: /"),
        ("<network><name>..</name></network>", "network name '..' is not allowed"),
        ("<network><name>.hidden</name></network>", "network name '.hidden' is not allowed"),
        ("<network><name>n</name><uuid>xyz</uuid></network>", "malformed uuid element"),
        ("<network><name>n</name><forward mode='nat'/></network>", "nat forwarding requested, but no IP address provided for network 'n'"),
        ("<network><name>n</name><forward mode='bogus'/></network>", "unknown forwarding type 'bogus'"),
        ("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.1.2' end='10.0.0.9'/></dhcp></ip></network>",
         "range 10.0.1.2 - 10.0.0.9 is not entirely within network 10.0.0.1/24"),
        ("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.9' end='10.0.0.2'/></dhcp></ip></network>",
         "range 10.0.0.9 - 10.0.0.2 is reversed "),
        ("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.0' end='10.0.0.2'/></dhcp></ip></network>",
         "start of range 10.0.0.0 - 10.0.0.2 in network 10.0.0.1/24 is the network address"),
        ("<network><name>n</name><ip address='10.0.0.1' netmask='255.255.255.0' prefix='24'/></network>",
         "Network 'n' IP address cannot have both a prefix and a netmask"),
        ("<network><name>n</name><ip address='fe80::1'/></network>", "no family specified for non-IPv4 address 'fe80::1' in network 'n'"),
        ("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><host ip='10.0.0.5'/></dhcp></ip></network>",
         "Static host definition in IPv4 network 'n' must have mac or name attribute"),
        ("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><host mac='01:00:00:00:00:01' ip='10.0.0.5'/></dhcp></ip></network>",
         "expected unicast mac address, found multicast '01:00:00:00:00:01' in network 'n'"),
        ("<network><name>n</name><forward mode='bridge'/><bridge name='br0' stp='on'/></network>",
         "bridge delay/stp/zone options only allowed in route, nat, and isolated mode, not in bridge (network 'n')"),
        ("<network><name>n</name><forward mode='route'/><ip address='10.0.0.1' prefix='24'/><mtu size='x'/></network>", "Invalid mtu size 'x' in network 'n'"),
        ("<network><name>n</name><dns enable='no'><txt name='a' value='b'/></dns></network>", "Extra data in disabled network 'n'"),
        ("<network><name>n</name><forward mode='nat'><nat><port start='9' end='3'/></nat></forward><ip address='10.0.0.1'/></network>",
         "Missing or invalid 'end' attribute in <port> in <nat> in <forward> in network n"),
        ("<network><name>n</name><ip address='10.0.0.1' prefix='24'/><route address='10.1.0.0' prefix='16' gateway='10.2.0.1'/></network>",
         "unreachable static route gateway '10.2.0.1' specified for network 'n'"),
        ("<network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.9'><lease expiry='60' unit='seconds'/></range></dhcp></ip></network>",
         "The minimum lease time should be greater than 2 minutes"),
    ])
    func refusals(xml: String, message: String) {
        #expect(throws: NetworkError.self) { try Self.parse(xml) }
        do {
            _ = try Self.parse(xml)
        } catch let error as NetworkError {
            #expect(error.message == message)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("the driver's define-time checks: bridge names, bridge MAC, what a mode cannot have")
    func validation() throws {
        var random = SystemRandomNumberGenerator()
        var isolated = try Self.parse("<network><name>n</name></network>")
        try NetworkValidation.validate(&isolated, bridgeInUse: { $0 == "virbr0" }, deviceExists: { $0 == "virbr1" }, random: &random)
        #expect(isolated.bridge.name == "virbr2")
        #expect(isolated.mac.map { Array($0.bytes.prefix(3)) } == [0x52, 0x54, 0x00])
        var templated = try Self.parse("<network><name>n</name><bridge name='tck%d'/></network>")
        try NetworkValidation.validate(&templated, bridgeInUse: { $0 == "tck0" }, deviceExists: { _ in false }, random: &random)
        #expect(templated.bridge.name == "tck1")
        var taken = try Self.parse("<network><name>n</name><bridge name='virbr0'/></network>")
        #expect(throws: NetworkError(.internalError, "bridge name 'virbr0' already in use.")) {
            try NetworkValidation.validate(&taken, bridgeInUse: { $0 == "virbr0" }, deviceExists: { _ in false }, random: &random)
        }
        var bridged = try Self.parse("<network><name>n</name><forward mode='bridge'/><bridge name='br0'/><mac address='52:54:00:00:00:01'/></network>")
        #expect(throws: NetworkError(.configUnsupported, "Unsupported <mac> element in network n with forward mode='bridge'")) {
            try NetworkValidation.validate(&bridged, bridgeInUse: { _ in false }, deviceExists: { _ in false }, random: &random)
        }
        var twoDHCP = try Self.parse("""
            <network><name>n</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.3'/></dhcp></ip>
            <ip address='10.1.0.1' prefix='24'><dhcp><range start='10.1.0.2' end='10.1.0.3'/></dhcp></ip></network>
            """)
        #expect(throws: NetworkError(.configUnsupported, "Multiple IPv4 dhcp sections found -- dhcp is supported only for a single IPv4 address on each network")) {
            try NetworkValidation.validate(&twoDHCP, bridgeInUse: { _ in false }, deviceExists: { _ in false }, random: &random)
        }
    }

    @Test("addresses read and write in the C library's canonical form; masks, ranges and natural prefixes")
    func addresses() throws {
        #expect(IPAddress("2001:db8:0:0::1")?.description == "2001:db8::1")
        #expect(IPAddress("10.0.0.256") == nil && IPAddress("") == nil && IPAddress("::g") == nil)
        #expect(IPAddress("255.255.254.0")?.netmaskPrefix == 23 && IPAddress("255.0.255.0")?.netmaskPrefix == nil)
        #expect(IPAddress("192.168.5.77")!.masked(prefix: 24).description == "192.168.5.0")
        #expect(IPAddress("192.168.5.77")!.broadcast(prefix: 22).description == "192.168.7.255")
        #expect(IPAddress("10.1.2.3")?.naturalPrefix == 8 && IPAddress("172.16.0.1")?.naturalPrefix == 16 && IPAddress("224.0.0.1")?.naturalPrefix == nil)
        #expect(try AddressRange.size(start: IPAddress("10.0.0.2")!, end: IPAddress("10.0.1.1")!, network: IPAddress("10.0.0.1")!, prefix: 16) == 256)
        #expect(throws: NetworkError.self) { try AddressRange.size(start: IPAddress("10.0.0.2")!, end: IPAddress("10.1.0.1")!, network: nil, prefix: nil) }
        #expect(IPAddress("255.255.255.255")!.adding(1) == nil && IPAddress("10.0.0.255")!.adding(1)?.description == "10.0.1.0")
        #expect(MACAddress("52:54:0:A:b:c")?.description == "52:54:00:0a:0b:0c" && MACAddress("52:54:00:0a:0b") == nil)
        #expect(DnsmasqConfiguration.pointerDomain(IPAddress("192.168.122.1")!, prefix: 24) == "122.168.192.in-addr.arpa")
        #expect(DnsmasqConfiguration.pointerDomain(IPAddress("2001:db8::1")!, prefix: 48) == "0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa")
        #expect(DnsmasqConfiguration.pointerDomain(IPAddress("10.0.0.1")!, prefix: 20) == nil)
    }
}
