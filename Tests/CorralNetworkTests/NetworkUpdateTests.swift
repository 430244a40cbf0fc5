import CorralNetwork
import Testing

@Suite("net-update")
struct NetworkUpdateTests {
    static func network() throws -> NetworkDefinition {
        try NetworkDefinitionTests.parse(try NetworkGolden.input("isolated"))
    }

    @Test("DHCP hosts are added first or last, modified by MAC, deleted by any one attribute")
    func dhcpHosts() throws {
        var definition = try Self.network()
        try NetworkUpdate.apply(to: &definition, command: 3, section: 4, parentIndex: -1, xml: "<host mac='52:54:00:00:00:01' name='one' ip='192.168.152.10'/>")
        try NetworkUpdate.apply(to: &definition, command: 4, section: 4, parentIndex: 0, xml: "<host mac='52:54:00:00:00:02' ip='192.168.152.11'/>")
        #expect(definition.ips[0].hosts.map(\.ip?.description) == ["192.168.152.11", "192.168.152.10"])
        #expect(throws: NetworkError(.operationInvalid, "there is an existing dhcp host entry in network 'private' that matches \"<host mac='52:54:00:00:00:01' name='(null)' ip='192.168.152.12'/>\"")) {
            try NetworkUpdate.apply(to: &definition, command: 3, section: 4, parentIndex: -1, xml: "<host mac='52:54:00:00:00:01' ip='192.168.152.12'/>")
        }
        try NetworkUpdate.apply(to: &definition, command: 1, section: 4, parentIndex: -1, xml: "<host mac='52:54:00:00:00:01' name='one' ip='192.168.152.20'/>")
        #expect(definition.ips[0].hosts[1].ip?.description == "192.168.152.20")
        try NetworkUpdate.apply(to: &definition, command: 2, section: 4, parentIndex: -1, xml: "<host name='one'/>")
        #expect(definition.ips[0].hosts.count == 1)
        #expect(throws: NetworkError(.operationInvalid, "couldn't locate a matching dhcp host entry in network 'private'")) {
            try NetworkUpdate.apply(to: &definition, command: 2, section: 4, parentIndex: -1, xml: "<host name='one'/>")
        }
        #expect(throws: NetworkError(.operationInvalid, "couldn't update dhcp host entry - no <ip> element found at index 3 in network 'private'")) {
            try NetworkUpdate.apply(to: &definition, command: 3, section: 4, parentIndex: 3, xml: "<host mac='52:54:00:00:00:09' ip='192.168.152.12'/>")
        }
    }

    @Test("ranges, DNS records and port groups; sections libvirt cannot update and unknown commands")
    func otherSections() throws {
        var definition = try Self.network()
        try NetworkUpdate.apply(to: &definition, command: 3, section: 5, parentIndex: -1, xml: "<range start='192.168.152.100' end='192.168.152.110'/>")
        #expect(definition.ips[0].ranges.count == 2)
        #expect(throws: NetworkError(.operationUnsupported, "dhcp ranges cannot be modified, only added or deleted")) {
            try NetworkUpdate.apply(to: &definition, command: 1, section: 5, parentIndex: -1, xml: "<range start='192.168.152.100' end='192.168.152.110'/>")
        }
        #expect(throws: NetworkError.self) {
            try NetworkUpdate.apply(to: &definition, command: 3, section: 5, parentIndex: -1, xml: "<range start='10.0.0.2' end='10.0.0.3'/>")
        }
        try NetworkUpdate.apply(to: &definition, command: 2, section: 5, parentIndex: -1, xml: "<range start='192.168.152.100' end='192.168.152.110'/>")
        #expect(definition.ips[0].ranges.count == 1)
        try NetworkUpdate.apply(to: &definition, command: 3, section: 10, parentIndex: -1, xml: "<host ip='192.168.152.9'><hostname>web</hostname></host>")
        try NetworkUpdate.apply(to: &definition, command: 3, section: 11, parentIndex: -1, xml: "<txt name='t' value='v'/>")
        try NetworkUpdate.apply(to: &definition, command: 3, section: 12, parentIndex: -1, xml: "<srv service='http' protocol='tcp' target='web' port='80'/>")
        try NetworkUpdate.apply(to: &definition, command: 3, section: 9, parentIndex: -1, xml: "<portgroup name='pg' default='yes'/>")
        #expect(definition.dns.hosts.count == 1 && definition.dns.texts.count == 1 && definition.dns.services.count == 1 && definition.portGroups.count == 1)
        try NetworkUpdate.apply(to: &definition, command: 2, section: 10, parentIndex: -1, xml: "<host ip='192.168.152.9'/>")
        #expect(definition.dns.hosts.isEmpty)
        #expect(throws: NetworkError(.operationUnsupported, "can't update 'bridge' section of network 'private'")) {
            try NetworkUpdate.apply(to: &definition, command: 1, section: 1, parentIndex: -1, xml: "<bridge name='x'/>")
        }
        #expect(throws: NetworkError(.operationUnsupported, "unrecognized network update command code 9")) {
            try NetworkUpdate.apply(to: &definition, command: 9, section: 4, parentIndex: -1, xml: "<host/>")
        }
        #expect(throws: NetworkError(.xml, "unexpected element <range>, expecting <host>, while updating network 'private'")) {
            try NetworkUpdate.apply(to: &definition, command: 3, section: 4, parentIndex: -1, xml: "<range/>")
        }
    }
}
