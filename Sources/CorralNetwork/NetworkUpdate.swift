import XMLTree

/// `virNetworkUpdate`'s edits of a definition (libvirt's `virNetworkDefUpdateSection`): one
/// command on one section, with the XML of one element. Pure; the daemon applies the result to
/// the live and/or persistent definition and refreshes dnsmasq.
public enum NetworkUpdate {
    /// `virNetworkUpdateCommand`.
    public enum Command: UInt32, Sendable {
        case modify = 1, delete = 2, addLast = 3, addFirst = 4
    }

    /// `virNetworkUpdateSection`.
    public enum Section: UInt32, Sendable {
        case bridge = 1, domain = 2, ip = 3, ipDHCPHost = 4, ipDHCPRange = 5, forward = 6, forwardInterface = 7, forwardPF = 8
        case portGroup = 9, dnsHost = 10, dnsText = 11, dnsService = 12

        var name: String {
            switch self {
            case .bridge: "bridge"
            case .domain: "domain"
            case .ip: "ip"
            case .ipDHCPHost: "ip dhcp host"
            case .ipDHCPRange: "ip dhcp range"
            case .forward: "forward"
            case .forwardInterface: "forward interface"
            case .forwardPF: "forward pf"
            case .portGroup: "portgroup"
            case .dnsHost: "dns host"
            case .dnsText: "dns txt"
            case .dnsService: "dns srv"
            }
        }

    }

    /// Applies one edit to `definition`.
    public static func apply(
        to definition: inout NetworkDefinition, command rawCommand: UInt32, section rawSection: UInt32, parentIndex: Int32, xml: String
    ) throws(NetworkError) {
        guard let command = Command(rawValue: rawCommand) else {
            throw NetworkError(.operationUnsupported, "unrecognized network update command code \(rawCommand)")
        }
        guard let section = Section(rawValue: rawSection) else {
            throw NetworkError(.operationUnsupported, "can't update unrecognized section of network")
        }
        let element: XMLElement
        do {
            element = try XMLTreeParser.parse(xml)
        } catch {
            throw NetworkError(.xmlDetail, "(network_update_xml):\(error.line): \(error.message)")
        }
        let name = definition.name
        func expect(_ expected: String) throws(NetworkError) {
            guard element.name == expected else { throw NetworkError(.xml, "unexpected element <\(element.name)>, expecting <\(expected)>, while updating network '\(name)'") }
        }
        switch section {
        case .ipDHCPHost:
            try expect("host")
            try updateDHCPHost(&definition, command: command, parentIndex: parentIndex, element: element)
        case .ipDHCPRange:
            try expect("range")
            try updateDHCPRange(&definition, command: command, parentIndex: parentIndex, element: element)
        case .dnsHost:
            try expect("host")
            let host = try NetworkDefinition.DNS.readHost(element, network: name, partial: command == .delete)
            let index = definition.dns.hosts.firstIndex { existing in
                (host.ip == nil || existing.ip == host.ip) && (host.hostnames.isEmpty || existing.hostnames == host.hostnames)
            }
            try edit(&definition.dns.hosts, command: command, item: host, index: index, what: "DNS HOST record", network: name)
        case .dnsText:
            try expect("txt")
            let text = try NetworkDefinition.DNS.readText(element, network: name, partial: command == .delete)
            try edit(&definition.dns.texts, command: command, item: text, index: definition.dns.texts.firstIndex { $0.name == text.name }, what: "DNS TXT record", network: name)
        case .dnsService:
            try expect("srv")
            let service = try NetworkDefinition.DNS.readService(element, network: name, partial: command == .delete)
            let index = definition.dns.services.firstIndex { existing in
                (service.service == nil || existing.service == service.service) && (service.protocol == nil || existing.protocol == service.protocol)
                    && (service.domain == nil || existing.domain == service.domain) && (service.target == nil || existing.target == service.target)
            }
            try edit(&definition.dns.services, command: command, item: service, index: index, what: "DNS SRV record", network: name)
        case .portGroup:
            try expect("portgroup")
            let group = try NetworkDefinition.PortGroup.read(element)
            let index = definition.portGroups.firstIndex { $0.name == group.name }
            if command != .delete, group.isDefault, definition.portGroups.contains(where: { $0.isDefault && $0.name != group.name }) {
                throw NetworkError(.operationInvalid, "a different portgroup entry in network '\(name)' is already set as the default. Only one default is allowed.")
            }
            try edit(&definition.portGroups, command: command, item: group, index: index, what: "portgroup entry \"\(group.name)\"", network: name)
        case .bridge, .domain, .ip, .forward, .forwardInterface, .forwardPF:
            throw NetworkError(.operationUnsupported, "can't update '\(section.name)' section of network '\(name)'")
        }
    }

    /// The shared add/modify/delete of a list section.
    private static func edit<T>(_ list: inout [T], command: Command, item: T, index: Int?, what: String, network: String) throws(NetworkError) {
        switch command {
        case .modify:
            guard let index else { throw NetworkError(.operationInvalid, "couldn't locate an existing \(what) in network '\(network)'") }
            list[index] = item
        case .addFirst, .addLast:
            if index != nil { throw NetworkError(.operationInvalid, "there is already an existing \(what) in network '\(network)'") }
            list.insert(item, at: command == .addFirst ? 0 : list.endIndex)
        case .delete:
            guard let index else { throw NetworkError(.operationInvalid, "couldn't locate a matching \(what) in network '\(network)'") }
            list.remove(at: index)
        }
    }

    /// libvirt's `virNetworkIPDefByIndex`: the `<ip>` at `parentIndex`, or for -1 the one with
    /// DHCP, else the first IPv4, else the first IPv6.
    static func ipIndex(_ definition: NetworkDefinition, parentIndex: Int32) throws(NetworkError) -> Int {
        if parentIndex >= 0 {
            guard Int(parentIndex) < definition.ips.count else {
                throw NetworkError(.operationInvalid, "couldn't update dhcp host entry - no <ip> element found at index \(parentIndex) in network '\(definition.name)'")
            }
            return Int(parentIndex)
        }
        if let index = definition.ips.firstIndex(where: \.hasDHCP) ?? definition.ips.firstIndex(where: { $0.address.family == .ipv4 }) ?? definition.ips.indices.first {
            return index
        }
        throw NetworkError(.operationInvalid, "couldn't update dhcp host entry - no <ip> element found in network '\(definition.name)'")
    }

    private static func updateDHCPHost(_ definition: inout NetworkDefinition, command: Command, parentIndex: Int32, element: XMLElement) throws(NetworkError) {
        let ipIndex = try ipIndex(definition, parentIndex: parentIndex)
        let ip = definition.ips[ipIndex], name = definition.name
        let host = try NetworkDefinition.IP.readHost(element, family: ip.address.family, network: name, partial: command == .delete)
        if command != .delete, host.ip?.family != ip.address.family {
            throw NetworkError(.operationInvalid, "the address family of a host entry IP must match the address family of the dhcp element's parent")
        }
        func sameMAC(_ a: String?, _ b: String?) -> Bool {
            guard let a, let b, let x = MACAddress(a), let y = MACAddress(b) else { return false }
            return x == y
        }
        let description = "\"<host mac='\(host.mac ?? "unknown")' name='\(host.name ?? "(null)")' ip='\(host.ip.map { "\($0)" } ?? "unknown")'/>\""
        switch command {
        case .modify:
            guard let index = ip.hosts.firstIndex(where: { sameMAC(host.mac, $0.mac) || (host.ip != nil && host.ip == $0.ip) || (host.name != nil && host.name == $0.name) }) else {
                throw NetworkError(.operationInvalid, "couldn't locate an existing dhcp host entry with \"mac='\(host.mac ?? "unknown")'\" \"name='\(host.name ?? "(null)")'\" \"ip='\(host.ip.map { "\($0)" } ?? "unknown")'\" in network '\(name)'")
            }
            definition.ips[ipIndex].hosts[index] = host
        case .addFirst, .addLast:
            try checkSingleDHCP(definition, ipIndex: ipIndex)
            if ip.hosts.contains(where: { sameMAC(host.mac, $0.mac) || (host.name != nil && host.name == $0.name) || (host.ip != nil && host.ip == $0.ip) }) {
                throw NetworkError(.operationInvalid, "there is an existing dhcp host entry in network '\(name)' that matches \(description)")
            }
            definition.ips[ipIndex].hosts.insert(host, at: command == .addFirst ? 0 : ip.hosts.endIndex)
        case .delete:
            guard let index = ip.hosts.firstIndex(where: { existing in
                (host.mac == nil || existing.mac == nil || sameMAC(host.mac, existing.mac)) && (host.name == nil || host.name == existing.name)
                    && (host.ip == nil || host.ip == existing.ip)
            }) else {
                throw NetworkError(.operationInvalid, "couldn't locate a matching dhcp host entry in network '\(name)'")
            }
            definition.ips[ipIndex].hosts.remove(at: index)
        }
    }

    private static func updateDHCPRange(_ definition: inout NetworkDefinition, command: Command, parentIndex: Int32, element: XMLElement) throws(NetworkError) {
        let ipIndex = try ipIndex(definition, parentIndex: parentIndex)
        let ip = definition.ips[ipIndex], name = definition.name
        if command == .modify {
            throw NetworkError(.operationUnsupported, "dhcp ranges cannot be modified, only added or deleted")
        }
        // The range is read as libvirt reads it inside its <ip> (checked against that network).
        let dhcp = XMLElement(name: "dhcp", children: [.element(element)])
        let prefix = ip.effectivePrefix.map { [XMLAttribute(name: "prefix", value: "\($0)")] } ?? []
        let family = ip.address.family == .ipv6 ? [XMLAttribute(name: "family", value: "ipv6")] : []
        let ipElement = XMLElement(name: "ip", attributes: family + [XMLAttribute(name: "address", value: "\(ip.address)")] + prefix, children: [.element(dhcp)])
        guard let range = try NetworkDefinition.IP.read(ipElement, network: name).ranges.first else {
            throw NetworkError(.xml, "Missing 'start' attribute in dhcp range for network '\(name)'")
        }
        if range.start.family != ip.address.family {
            throw NetworkError(.operationInvalid, "the address family of a dhcp range must match the address family of the dhcp element's parent")
        }
        let index = ip.ranges.firstIndex { $0.start == range.start && $0.end == range.end }
        switch command {
        case .addFirst, .addLast:
            try checkSingleDHCP(definition, ipIndex: ipIndex)
            if index != nil {
                throw NetworkError(.operationInvalid, "there is an existing dhcp range entry in network '\(name)' that matches \"<range start='\(range.start)' end='\(range.end)'/>\"")
            }
            definition.ips[ipIndex].ranges.insert(range, at: command == .addFirst ? 0 : ip.ranges.endIndex)
        case .delete:
            guard let index else {
                throw NetworkError(.operationInvalid, "couldn't locate a matching dhcp range entry \"<range start='\(range.start)' end='\(range.end)'/>\" in network '\(name)'")
            }
            definition.ips[ipIndex].ranges.remove(at: index)
        case .modify:
            break
        }
    }

    /// libvirt allows DHCP on one `<ip>` per family.
    private static func checkSingleDHCP(_ definition: NetworkDefinition, ipIndex: Int) throws(NetworkError) {
        let ip = definition.ips[ipIndex]
        for (index, other) in definition.ips.enumerated() where index != ipIndex && other.address.family == ip.address.family && other.hasDHCP {
            throw NetworkError(.operationUnsupported, "dhcp is supported only for a single \(ip.address.family == .ipv4 ? "IPv4" : "IPv6") address on each network")
        }
    }
}
