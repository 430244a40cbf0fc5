import XMLTree

extension NetworkDefinition.IP {
    /// `virNetworkIPDefParseXML`.
    static func read(_ element: XMLElement, network: String) throws(NetworkError) -> Self {
        guard let addressText = element[attribute: "address"] else {
            throw NetworkError(.xml, "Missing required address attribute in network '\(network)'")
        }
        guard let address = IPAddress(addressText) else { throw NetworkError(.xml, "Invalid address '\(addressText)' in network '\(network)'") }
        var ip = Self(address: address)
        ip.family = element[attribute: "family"]
        let netmaskText = element[attribute: "netmask"]
        if let netmaskText {
            guard let netmask = IPAddress(netmaskText) else { throw NetworkError(.xml, "Invalid netmask '\(netmaskText)' in network '\(network)'") }
            ip.netmask = netmask
        }
        ip.prefix = try NetworkXMLReading.unsigned(element, "prefix") ?? 0
        ip.localPTR = try NetworkXMLReading.tristate(element, "localPtr")
        switch ip.family {
        case nil, "ipv4"?:
            guard address.family == .ipv4 else {
                throw NetworkError(.configUnsupported, "\(ip.family == nil ? "no" : "ipv4") family specified for non-IPv4 address '\(addressText)' in network '\(network)'")
            }
            if let netmask = ip.netmask {
                guard netmask.family == .ipv4 else {
                    throw NetworkError(.configUnsupported, "Invalid netmask '\(netmaskText!)' for address '\(addressText)' in network '\(network)' (both must be IPv4)")
                }
                if ip.prefix > 0 { throw NetworkError(.configUnsupported, "Network '\(network)' IP address cannot have both a prefix and a netmask") }
            } else if ip.prefix > 32 {
                throw NetworkError(.configUnsupported, "Invalid IPv4 prefix '\(ip.prefix)' in network '\(network)'")
            }
        case "ipv6"?:
            guard address.family == .ipv6 else {
                throw NetworkError(.configUnsupported, "Family 'ipv6' specified for non-IPv6 address '\(addressText)' in network '\(network)'")
            }
            if ip.netmask != nil { throw NetworkError(.configUnsupported, "netmask not allowed for IPv6 address '\(addressText)' in network '\(network)'") }
            if ip.prefix > 128 { throw NetworkError(.configUnsupported, "Invalid IPv6 prefix '\(ip.prefix)' in network '\(network)'") }
        case let family?:
            throw NetworkError(.xml, "Unrecognized family '\(family)' in network '\(network)'")
        }
        if let dhcp = element.element(named: "dhcp") { try ip.readDHCP(dhcp, network: network) }
        if let tftp = element.element(named: "tftp") {
            guard address.family == .ipv4 else {
                throw NetworkError(.configUnsupported, "Unsupported <tftp> element in an IPv6 element in network '\(network)'")
            }
            ip.tftpRoot = tftp[attribute: "root"]
        }
        return ip
    }

    private mutating func readDHCP(_ element: XMLElement, network: String) throws(NetworkError) {
        for child in element.elements {
            switch child.name {
            case "range":
                ranges.append(try readRange(child, network: network))
            case "host":
                hosts.append(try Self.readHost(child, family: address.family, network: network, partial: false))
            case "bootp" where address.family == .ipv4:
                guard let file = child[attribute: "file"] else { continue }
                bootFile = file
                if let server = child[attribute: "server"] {
                    guard let parsed = IPAddress(server) else { throw NetworkError(.internalError, "Cannot parse host address '\(server)'") }
                    bootServer = parsed
                }
            default:
                continue
            }
        }
    }

    private func readRange(_ element: XMLElement, network: String) throws(NetworkError) -> NetworkDefinition.DHCPRange {
        guard let startText = element[attribute: "start"] else { throw NetworkError(.xml, "Missing 'start' attribute in dhcp range for network '\(network)'") }
        guard let start = IPAddress(startText) else { throw NetworkError(.internalError, "Cannot parse address '\(startText)'") }
        guard let endText = element[attribute: "end"] else { throw NetworkError(.xml, "Missing 'end' attribute in dhcp range for network '\(network)'") }
        guard let end = IPAddress(endText) else { throw NetworkError(.internalError, "Cannot parse address '\(endText)'") }
        _ = try AddressRange.size(start: start, end: end, network: address, prefix: effectivePrefix)
        return NetworkDefinition.DHCPRange(start: start, end: end, lease: try Self.readLease(element))
    }

    /// `virNetworkDHCPHostDefParseXML`; `partial` for `net-update`'s match-only hosts.
    static func readHost(_ element: XMLElement, family: IPAddress.Family, network: String, partial: Bool) throws(NetworkError) -> NetworkDefinition.DHCPHost {
        var host = NetworkDefinition.DHCPHost()
        if let mac = element[attribute: "mac"] {
            if family == .ipv6 {
                throw NetworkError(.xml, "Invalid to specify MAC address '\(mac)' in network '\(network)' IPv6 static host definition")
            }
            guard let parsed = MACAddress(mac) else { throw NetworkError(.xml, "Cannot parse MAC address '\(mac)' in network '\(network)'") }
            if parsed.isMulticast { throw NetworkError(.xml, "expected unicast mac address, found multicast '\(mac)' in network '\(network)'") }
            host.mac = mac
        }
        if let id = element[attribute: "id"] {
            if let bad = id.first(where: { !($0.isHexDigit || $0 == ":") }) {
                throw NetworkError(.xml, "Invalid character '\(bad)' in id '\(id)' of network '\(network)'")
            }
            host.id = id
        }
        if let name = element[attribute: "name"] {
            guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic || ("0"..."9").contains(first) else {
                throw NetworkError(.xml, "Cannot use host name '\(name)' in network '\(network)'")
            }
            host.name = name
        }
        if let ipText = element[attribute: "ip"] {
            guard let ip = IPAddress(ipText) else { throw NetworkError(.xml, "Invalid IP address in static host definition for network '\(network)'") }
            host.ip = ip
        }
        if partial {
            if host.mac == nil && host.name == nil && host.ip == nil {
                throw NetworkError(.xml, "At least one of name, mac, or ip attribute must be specified for static host definition in network '\(network)' ")
            }
        } else {
            if family == .ipv6 {
                if host.id == nil && host.name == nil {
                    throw NetworkError(.xml, "Static host definition in IPv6 network '\(network)' must have id or name attribute")
                }
            } else if host.mac == nil && host.name == nil {
                throw NetworkError(.xml, "Static host definition in IPv4 network '\(network)' must have mac or name attribute")
            }
            if host.ip == nil { throw NetworkError(.xml, "Missing IP address in static host definition for network '\(network)'") }
        }
        host.lease = try readLease(element)
        return host
    }

    static func readLease(_ element: XMLElement) throws(NetworkError) -> NetworkDefinition.LeaseTime? {
        guard let lease = element.element(named: "lease"), let expiryText = lease[attribute: "expiry"] else { return nil }
        guard let expiry = UInt64(expiryText) else {
            throw NetworkError(.xml, "Invalid value for attribute 'expiry' in element 'lease': '\(expiryText)'. Expected non-negative integer value")
        }
        let unitText = lease[attribute: "unit"] ?? "minutes"
        guard let unit = NetworkDefinition.LeaseTime.Unit(rawValue: unitText) else {
            throw NetworkError(.xml, "Invalid value for attribute 'unit' in element 'lease': '\(unitText)'.")
        }
        if expiry > 0 && ((unit == .seconds && expiry < 120) || (unit == .minutes && expiry < 2)) {
            throw NetworkError(.configUnsupported, "The minimum lease time should be greater than 2 minutes")
        }
        return NetworkDefinition.LeaseTime(expiry: expiry, unit: unit)
    }
}

/// libvirt's checks of an address range (`virSocketAddrGetRange`).
public enum AddressRange {
    /// The number of addresses from `start` to `end`, after libvirt's checks: the same family,
    /// inside the network (when one is given), not the IPv4 network or broadcast address, not
    /// reversed, and no more than 65535 apart.
    public static func size(start: IPAddress, end: IPAddress, network: IPAddress?, prefix: Int?) throws(NetworkError) -> Int {
        let range = "\(start) - \(end)"
        guard start.family == end.family else { throw NetworkError(.internalError, "mismatch of address family in range \(range)") }
        if let network {
            guard start.family == network.family else {
                throw NetworkError(.internalError, "mismatch of address family in range \(range) for network \(network)")
            }
            guard let prefix, prefix >= 0, prefix <= network.family.bitCount else {
                throw NetworkError(.internalError, "bad prefix \(prefix ?? -1) for network \(network) when  checking range \(range)")
            }
            guard network.sameNetwork(as: start, prefix: prefix), network.sameNetwork(as: end, prefix: prefix) else {
                throw NetworkError(.internalError, "range \(range) is not entirely within network \(network)/\(prefix)")
            }
            if start.family == .ipv4 {
                if start == network.masked(prefix: prefix) {
                    throw NetworkError(.internalError, "start of range \(range) in network \(network)/\(prefix) is the network address")
                }
                if end == network.broadcast(prefix: prefix) {
                    throw NetworkError(.internalError, "end of range \(range) in network \(network)/\(prefix) is the broadcast address")
                }
            }
        }
        let fixed = start.bytes.count - 2
        guard start.bytes.prefix(fixed) == end.bytes.prefix(fixed) else {
            throw NetworkError(.internalError, "range \(range) is too large (> 65535)")
        }
        let difference = (Int(end.bytes[fixed]) - Int(start.bytes[fixed])) * 256 + Int(end.bytes[fixed + 1]) - Int(start.bytes[fixed + 1])
        guard difference >= 0 else { throw NetworkError(.internalError, "range \(range) is reversed ") }
        return difference + 1
    }
}

extension NetworkDefinition.DNS {
    /// `virNetworkDNSDefParseXML`.
    static func read(_ element: XMLElement, network: String) throws(NetworkError) -> Self {
        var dns = Self()
        dns.enable = try NetworkXMLReading.tristate(element, "enable")
        dns.forwardPlainNames = try NetworkXMLReading.tristate(element, "forwardPlainNames")
        for forwarder in element.elements(named: "forwarder") {
            var entry = NetworkDefinition.DNSForwarder(domain: forwarder[attribute: "domain"], address: nil)
            if let text = forwarder[attribute: "addr"] {
                guard let address = IPAddress(text) else { throw NetworkError(.xml, "Invalid forwarder IP address '\(text)' in network '\(network)'") }
                entry.address = address
            }
            if entry.domain == nil && entry.address == nil {
                throw NetworkError(.xml, "Invalid forwarder element, must contain at least one of addr or domain")
            }
            dns.forwarders.append(entry)
        }
        for host in element.elements(named: "host") { dns.hosts.append(try readHost(host, network: network, partial: false)) }
        for service in element.elements(named: "srv") { dns.services.append(try readService(service, network: network, partial: false)) }
        for text in element.elements(named: "txt") { dns.texts.append(try readText(text, network: network, partial: false)) }
        if dns.enable == false && !(dns.forwarders.isEmpty && dns.hosts.isEmpty && dns.services.isEmpty && dns.texts.isEmpty) {
            throw NetworkError(.xml, "Extra data in disabled network '\(network)'")
        }
        return dns
    }

    static func readHost(_ element: XMLElement, network: String, partial: Bool) throws(NetworkError) -> NetworkDefinition.DNSHost {
        var host = NetworkDefinition.DNSHost(ip: nil, hostnames: [])
        let ipText = element[attribute: "ip"]
        if ipText == nil && !partial { throw NetworkError(.xmlDetail, "Missing IP address in network '\(network)' DNS HOST record") }
        if let ipText {
            guard let ip = IPAddress(ipText) else { throw NetworkError(.xmlDetail, "Invalid IP address in network '\(network)' DNS HOST record") }
            host.ip = ip
        }
        for name in element.elements(named: "hostname") where !name.children.isEmpty {
            let text = name.text
            if text.isEmpty { throw NetworkError(.xmlDetail, "Missing hostname in network '\(network)' DNS HOST record") }
            host.hostnames.append(text)
        }
        if host.hostnames.isEmpty && !partial { throw NetworkError(.xmlDetail, "Missing hostname in network '\(network)' DNS HOST record") }
        if host.ip == nil && host.hostnames.isEmpty {
            throw NetworkError(.xmlDetail, "Missing ip and hostname in network '\(network)' DNS HOST record")
        }
        return host
    }

    static let protocolCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+/")
    static let serviceCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+/*")

    static func readService(_ element: XMLElement, network: String, partial: Bool) throws(NetworkError) -> NetworkDefinition.DNSService {
        var service = NetworkDefinition.DNSService()
        service.service = element[attribute: "service"]
        if service.service == nil && !partial {
            throw NetworkError(.xmlDetail, "missing required service attribute in DNS SRV record of network '\(network)'")
        }
        if let name = service.service {
            if name.utf8.count > 15 { throw NetworkError(.xmlDetail, "service attribute '\(name)' in network '\(network)' is too long, limit is 15 bytes") }
            if !name.allSatisfy(serviceCharacters.contains) {
                throw NetworkError(.xmlDetail, "invalid character in service attribute '\(name)' in DNS SRV record of network '\(network)'")
            }
        }
        service.protocol = element[attribute: "protocol"]
        if service.protocol == nil && !partial {
            throw NetworkError(.xmlDetail, "missing required protocol attribute in DNS SRV record '\(service.service ?? "(null)")' of network '\(network)'")
        }
        if let proto = service.protocol, !proto.allSatisfy(protocolCharacters.contains) {
            throw NetworkError(.xmlDetail, "invalid character in protocol attribute '\(proto)' in DNS SRV record of network '\(network)'")
        }
        service.domain = element[attribute: "domain"]
        service.target = element[attribute: "target"]
        let label = service.service ?? "(null)"
        func number(_ attribute: String, _ invalid: String, maximum: UInt32, minimum: UInt32 = 0) throws(NetworkError) -> UInt32 {
            guard let text = element[attribute: attribute] else { return 0 }
            if service.target == nil {
                throw NetworkError(.xmlDetail, "DNS SRV \(attribute) attribute not permitted without target for service '\(label)' in network '\(network)'")
            }
            guard let value = UInt32(text), value >= minimum, value <= maximum else {
                throw NetworkError(.xmlDetail, "\(invalid) DNS SRV \(attribute) attribute for service '\(label)' in network '\(network)'")
            }
            return value
        }
        service.port = try number("port", "invalid", maximum: 65535, minimum: 1)
        service.priority = try number("priority", "Invalid", maximum: 65535)
        service.weight = try number("weight", "invalid", maximum: 65535)
        return service
    }

    static func readText(_ element: XMLElement, network: String, partial: Bool) throws(NetworkError) -> NetworkDefinition.DNSText {
        guard let name = element[attribute: "name"] else {
            throw NetworkError(.xmlDetail, "missing required name attribute in DNS TXT record of network \(network)")
        }
        if name.contains(" ") || name.contains(",") {
            throw NetworkError(.xmlDetail, "prohibited character in DNS TXT record name '\(name)' of network \(network)")
        }
        let value = element[attribute: "value"]
        if value == nil && !partial {
            throw NetworkError(.xmlDetail, "missing required value attribute in DNS TXT record named '\(name)' of network \(network)")
        }
        return NetworkDefinition.DNSText(name: name, value: value ?? "")
    }
}

extension NetworkDefinition.Forward {
    /// `virNetworkForwardDefParseXML`.
    static func read(_ element: XMLElement, network: String) throws(NetworkError) -> Self {
        let mode: NetworkDefinition.ForwardMode
        if let text = element[attribute: "mode"] {
            guard let parsed = NetworkDefinition.ForwardMode(rawValue: text) else { throw NetworkError(.configUnsupported, "unknown forwarding type '\(text)'") }
            mode = parsed
        } else {
            mode = .nat
        }
        var forward = Self(mode: mode)
        forward.managed = element[attribute: "managed"]?.lowercased() == "yes"
        if let driver = element.element(named: "driver")?[attribute: "name"] {
            guard driver == "kvm" || driver == "vfio" else { throw NetworkError(.configUnsupported, "Unknown forward <driver name='\(driver)'/> in network \(network)") }
            forward.driverName = driver
        }
        let interfaces = element.elements(named: "interface"), addresses = element.elements(named: "address")
        let pfs = element.elements(named: "pf"), nats = element.elements(named: "nat")
        if nats.count > 1 { throw NetworkError(.xml, "Only one <nat> element is allowed in <forward> of network \(network)") }
        if let nat = nats.first { forward.nat = try readNAT(nat, mode: mode, network: network) }
        let dev = element[attribute: "dev"]
        if dev != nil && (!addresses.isEmpty || !pfs.isEmpty) {
            throw NetworkError(.xml, "the <forward> 'dev' attribute cannot be used when <address> or <pf> sub-elements are present in network \(network)")
        }
        if !interfaces.isEmpty || dev != nil {
            if let dev { forward.interfaces.append(dev) }
            for (index, interface) in interfaces.enumerated() {
                guard let name = interface[attribute: "dev"] else {
                    throw NetworkError(.xml, "Missing required dev attribute in <forward> <interface> element of network \(network)")
                }
                if index == 0, let dev {
                    if name != dev { throw NetworkError(.xml, "<forward dev='\(dev)'> must match first <interface dev='\(name)'/> in network \(network)") }
                    continue
                }
                if forward.interfaces.contains(name) { throw NetworkError(.xml, "interface '\(name)' can only be listed once in network \(network)") }
                forward.interfaces.append(name)
            }
        } else if !addresses.isEmpty {
            for address in addresses {
                guard let type = address[attribute: "type"] else { throw NetworkError(.xml, "missing address type in network \(network)") }
                guard type == "pci" else {
                    if ["usb", "netdev", "none"].contains(type) { throw NetworkError(.xml, "unsupported address type '\(type)' in network \(network)") }
                    throw NetworkError(.configUnsupported, "unknown address type '\(type)' in network \(network)")
                }
                func part(_ name: String, _ maximum: UInt32) throws(NetworkError) -> UInt32 {
                    guard let text = address[attribute: name] else { return 0 }
                    let digits = text.hasPrefix("0x") ? String(text.dropFirst(2)) : text
                    guard let value = UInt32(digits, radix: text.hasPrefix("0x") ? 16 : 10), value <= maximum else {
                        throw NetworkError(.xml, "Cannot parse <address> '\(name)' attribute")
                    }
                    return value
                }
                let pci = NetworkDefinition.PCIAddress(domain: try part("domain", 0xFFFF), bus: try part("bus", 0xFF), slot: try part("slot", 0x1F), function: try part("function", 7))
                if forward.pciAddresses.contains(pci) {
                    throw NetworkError(.xml, "PCI device '\(pci.text)' can only be listed once in network \(network)")
                }
                forward.pciAddresses.append(pci)
            }
        } else if pfs.count > 1 {
            throw NetworkError(.xml, "Only one <pf> element is allowed in <forward> of network \(network)")
        } else if let pf = pfs.first {
            guard let dev = pf[attribute: "dev"] else { throw NetworkError(.xml, "Missing required dev attribute in <pf> element of network '\(network)'") }
            forward.physicalFunction = dev
        }
        return forward
    }

    private static func readNAT(_ element: XMLElement, mode: NetworkDefinition.ForwardMode, network: String) throws(NetworkError) -> NetworkDefinition.NAT {
        guard mode == .nat else {
            throw NetworkError(.xml, "The <nat> element can only be used when <forward> 'mode' is 'nat' in network \(network)")
        }
        var nat = NetworkDefinition.NAT()
        nat.ipv6 = try NetworkXMLReading.tristate(element, "ipv6")
        let addresses = element.elements(named: "address")
        if addresses.count > 1 { throw NetworkError(.xml, "Only one <address> element is allowed in <nat> in <forward> in network \(network)") }
        if let address = addresses.first {
            guard let startText = address[attribute: "start"] else {
                throw NetworkError(.xml, "missing 'start' attribute in <address> element in <nat> in <forward> in network \(network)")
            }
            guard let endText = address[attribute: "end"] else {
                throw NetworkError(.xml, "missing 'end' attribute in <address> element in <nat> in <forward> in network \(network)")
            }
            guard let start = IPAddress(startText), start.family == .ipv4 else {
                throw NetworkError(.xml, "Bad ipv4 start address '\(startText)' in <nat> in <forward> in network '\(network)'")
            }
            guard let end = IPAddress(endText), end.family == .ipv4 else {
                throw NetworkError(.xml, "Bad ipv4 end address '\(endText)' in <nat> in <forward> in network '\(network)'")
            }
            _ = try AddressRange.size(start: start, end: end, network: nil, prefix: nil)
            nat.addressStart = start
            nat.addressEnd = end
        }
        let ports = element.elements(named: "port")
        if ports.count > 1 { throw NetworkError(.xml, "Only one <port> element is allowed in <nat> in <forward> in network \(network)") }
        if let port = ports.first {
            guard let start = port[attribute: "start"].flatMap({ UInt32($0) }), start <= 65535 else {
                throw NetworkError(.xmlDetail, "Missing or invalid 'start' attribute in <port> in <nat> in <forward> in network \(network)")
            }
            guard let end = port[attribute: "end"].flatMap({ UInt32($0) }), end <= 65535, end >= start else {
                throw NetworkError(.xmlDetail, "Missing or invalid 'end' attribute in <port> in <nat> in <forward> in network \(network)")
            }
            nat.portStart = start
            nat.portEnd = end
        }
        return nat
    }
}

extension NetworkDefinition.PCIAddress {
    /// `0000:00:00.0`.
    var text: String {
        func hex(_ value: UInt32, _ width: Int) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(hex(domain, 4)):\(hex(bus, 2)):\(hex(slot, 2)).\(hex(function, 1))"
    }
}
