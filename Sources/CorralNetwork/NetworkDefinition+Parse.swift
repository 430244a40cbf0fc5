public import XMLTree

extension NetworkDefinition {
    /// Reads and checks network XML as libvirt's `virNetworkDefParseXML`, with its messages.
    ///
    /// - Parameter newUUID: makes a UUID when the XML has none.
    public static func parse(_ text: String, newUUID: () -> String) throws(NetworkError) -> NetworkDefinition {
        let root: XMLElement
        do {
            root = try XMLTreeParser.parse(text)
        } catch {
            throw NetworkError(.xmlDetail, "(network_definition):\(error.line): \(error.message)")
        }
        return try read(root, newUUID: newUUID)
    }

    /// The children `<network>` may have (libvirt's network.rng); ``parse(_:newUUID:validate:)``
    /// with `validate` refuses others, as `virNetworkDefineXMLFlags(VALIDATE)` does.
    public static let knownChildren: Set<String> = [
        "name", "uuid", "title", "description", "metadata", "forward", "bridge", "mtu", "mac", "domain", "dns", "vlan", "bandwidth", "port", "ip",
        "route", "virtualport", "portgroup",
    ]

    /// Reads network XML; with `validate`, an element libvirt's schema does not allow is refused
    /// instead of ignored.
    public static func parse(_ text: String, newUUID: () -> String, validate: Bool) throws(NetworkError) -> NetworkDefinition {
        let definition = try parse(text, newUUID: newUUID)
        if validate, let root = try? XMLTreeParser.parse(text),
            let extra = root.elements.first(where: { !knownChildren.contains($0.name) || $0.namespace != nil })
        {
            throw NetworkError(.xmlDetail, "XML document failed to validate against schema: Unable to validate doc against network.rng\nExtra element \(extra.name) in interleave")
        }
        return definition
    }

    /// Reads a parsed `<network>` element.
    public static func read(_ root: XMLElement, newUUID: () -> String) throws(NetworkError) -> NetworkDefinition {
        guard root.name == "network", root.namespace == nil else {
            throw NetworkError(.xml, "unexpected root element <\(root.name)>, expecting <network>")
        }
        guard let name = root.element(named: "name").map({ $0.text }), !name.isEmpty else {
            throw NetworkError(.noName, "(null)")
        }
        if name.contains("/") { throw NetworkError(.xmlDetail, "invalid char in name: /") }
        // The name becomes file and directory names (`NAME.xml`, `NAME/`): nothing that points
        // elsewhere or that the loader skips as a temporary file.
        if name == "." || name == ".." || name.hasPrefix(".") || name.unicodeScalars.contains(where: { $0.value == 0 }) {
            throw NetworkError(.xmlDetail, "network name '\(name)' is not allowed")
        }
        let uuid: String
        if let text = root.element(named: "uuid")?.text {
            guard let canonical = NetworkXMLReading.canonicalUUID(text) else { throw NetworkError(.internalError, "malformed uuid element") }
            uuid = canonical
        } else {
            uuid = newUUID()
        }
        var definition = NetworkDefinition(name: name, uuid: uuid)
        if let ipv6 = root[attribute: "ipv6"] {
            guard ipv6 == "yes" || ipv6 == "no" else { throw NetworkError(.xml, "Invalid ipv6 setting '\(ipv6)' in network '\(name)'") }
            definition.ipv6WithoutGateway = ipv6 == "yes"
        }
        definition.trustGuestRxFilters = try NetworkXMLReading.tristate(root, "trustGuestRxFilters")
        if let domain = root.element(named: "domain"), let domainName = domain[attribute: "name"] {
            definition.domain = DNSDomain(name: domainName, localOnly: try NetworkXMLReading.tristate(domain, "localOnly"))
        }
        if let bandwidth = root.element(named: "bandwidth") { definition.bandwidth = try readBandwidth(bandwidth, allowFloor: false) }
        if let vlan = root.element(named: "vlan") { definition.vlan = try readVLAN(vlan) }
        definition.portIsolated = try NetworkXMLReading.tristate(root.element(named: "port"), "isolated")
        try definition.readBridge(root.element(named: "bridge"))
        if let mac = root.element(named: "mac")?[attribute: "address"] {
            guard let address = MACAddress(mac) else { throw NetworkError(.xml, "Invalid bridge mac address '\(mac)' in network '\(name)'") }
            if address.isMulticast { throw NetworkError(.xml, "Invalid multicast bridge mac address '\(mac)' in network '\(name)'") }
            definition.mac = address
        }
        if let mtu = root.element(named: "mtu")?[attribute: "size"] {
            guard let size = UInt32(mtu) else { throw NetworkError(.xml, "Invalid mtu size '\(mtu)' in network '\(name)'") }
            definition.mtu = size == 0 ? nil : size
        }
        if let dns = root.element(named: "dns") { definition.dns = try DNS.read(dns, network: name) }
        definition.virtualPort = root.element(named: "virtualport")
        for element in root.elements(named: "portgroup") { definition.portGroups.append(try PortGroup.read(element)) }
        for element in root.elements(named: "ip") { definition.ips.append(try IP.read(element, network: name)) }
        for element in root.elements(named: "route") { definition.routes.append(try Route.read(element, network: name)) }
        try definition.checkRouteGateways()
        if let forward = root.element(named: "forward") { definition.forward = try Forward.read(forward, network: name) }
        try definition.checkForwardMode()
        definition.metadata = root.element(named: "metadata")
        return definition
    }

    private mutating func readBridge(_ element: XMLElement?) throws(NetworkError) {
        guard let element else { return }
        bridge.name = element[attribute: "name"]
        bridge.zone = element[attribute: "zone"]
        if let stp = element[attribute: "stp"] {
            bridge.stp = stp != "off"
            bridge.stpGiven = true
        }
        if let delay = element[attribute: "delay"] {
            guard let value = UInt64(delay) else { throw NetworkError(.xml, "Invalid delay value in network '\(name)'") }
            bridge.delay = value
        }
        if let manager = element[attribute: "macTableManager"] {
            guard manager == "kernel" || manager == "libvirt" else {
                throw NetworkError(.xml, "Invalid macTableManager setting '\(manager)' in network '\(name)'")
            }
            bridge.macTableManager = manager
        }
    }

    /// libvirt: a static route's gateway must be on one of the network's own subnets.
    private func checkRouteGateways() throws(NetworkError) {
        for route in routes {
            let reachable = ips.contains { ip in
                guard ip.address.family == route.gateway.family, let prefix = ip.effectivePrefix else { return false }
                return ip.address.sameNetwork(as: route.gateway, prefix: prefix)
            }
            if !reachable {
                throw NetworkError(.configUnsupported, "unreachable static route gateway '\(route.gateway)' specified for network '\(name)'")
            }
        }
    }

    /// The settings that must agree with the forward mode (`virNetworkDefParseXML`).
    private func checkForwardMode() throws(NetworkError) {
        let mode = forwardModeName
        switch forward?.mode {
        case nil:
            break
        case .route?, .nat?, .open?:
            if ips.isEmpty { throw NetworkError(.xml, "\(mode) forwarding requested, but no IP address provided for network '\(name)'") }
            if forward!.interfaces.count > 1 {
                throw NetworkError(.xml, "multiple forwarding interfaces specified for network '\(name)', only one is supported")
            }
            if forward!.mode == .open && !forward!.interfaces.isEmpty {
                throw NetworkError(.xml, "forward dev not allowed for network '\(name)' with forward mode='open'")
            }
        case .private?, .vepa?, .passthrough?, .hostdev?, .bridge?:
            if forward!.mode != .bridge {
                if bridge.name != nil { throw NetworkError(.xml, "bridge name not allowed in \(mode) mode (network '\(name)')") }
                if bridge.zone != nil { throw NetworkError(.xml, "bridge zone not allowed in \(mode) mode (network '\(name)')") }
                if bridge.macTableManager != nil {
                    throw NetworkError(.xml, "bridge macTableManager setting not allowed in \(mode) mode (network '\(name)')")
                }
            }
            if bridge.delay != 0 || bridge.stpGiven || bridge.zone != nil {
                throw NetworkError(.xml, "bridge delay/stp/zone options only allowed in route, nat, and isolated mode, not in \(mode) (network '\(name)')")
            }
            if bridge.name != nil && (!forward!.interfaces.isEmpty || forward!.physicalFunction != nil) {
                throw NetworkError(.xml, "A network with forward mode='\(mode)' can specify a bridge name or a forward dev, but not both (network '\(name)')")
            }
        }
        if mtu != nil, let forward, !forward.mode.hasManagedBridge {
            throw NetworkError(.xml, "mtu size only allowed in open, route, nat, and isolated mode, not in \(mode) (network '\(name)')")
        }
    }

    static func readBandwidth(_ element: XMLElement, allowFloor: Bool) throws(NetworkError) -> Bandwidth? {
        if element[attribute: "classID"] != nil {
            throw NetworkError(.xmlDetail, "classID attribute not supported on <bandwidth> in this usage context")
        }
        var bandwidth = Bandwidth()
        let inbound = element.elements(named: "inbound"), outbound = element.elements(named: "outbound")
        if inbound.count > 1 { throw NetworkError(.xmlDetail, "Only one child <inbound> element allowed") }
        if outbound.count > 1 { throw NetworkError(.xmlDetail, "Only one child <outbound> element allowed") }
        if let inbound = inbound.first {
            let rate = try readRate(inbound)
            if rate.floor != 0 && !allowFloor { throw NetworkError(.configUnsupported, "floor attribute is not supported for this config") }
            bandwidth.inbound = rate
        }
        if let outbound = outbound.first {
            let rate = try readRate(outbound)
            if rate.floor != 0 { throw NetworkError(.configUnsupported, "'floor' attribute allowed only in <inbound> element") }
            bandwidth.outbound = rate
        }
        return bandwidth.inbound == nil && bandwidth.outbound == nil ? nil : bandwidth
    }

    private static func readRate(_ element: XMLElement) throws(NetworkError) -> Rate {
        var rate = Rate()
        func value(_ attribute: String) throws(NetworkError) -> UInt64 {
            guard let text = element[attribute: attribute] else { return 0 }
            guard let number = UInt64(text) else { throw NetworkError(.configUnsupported, "could not convert bandwidth \(attribute) value '\(text)'") }
            return number
        }
        rate.average = try value("average")
        rate.peak = try value("peak")
        rate.burst = try value("burst")
        rate.floor = try value("floor")
        if element[attribute: "average"] == nil && element[attribute: "floor"] == nil {
            throw NetworkError(.xmlDetail, "Missing mandatory average or floor attributes")
        }
        if (element[attribute: "peak"] != nil || element[attribute: "burst"] != nil) && element[attribute: "average"] == nil {
            throw NetworkError(.configUnsupported, "'peak' and 'burst' require 'average' attribute")
        }
        return rate
    }

    static func readVLAN(_ element: XMLElement) throws(NetworkError) -> VLAN {
        var vlan = VLAN()
        let tags = element.elements(named: "tag")
        if tags.isEmpty { throw NetworkError(.xml, "missing tag id - each <vlan> must have at least one <tag id='N'/> subelement") }
        var sawNative = false
        for tag in tags {
            guard let text = tag[attribute: "id"], let id = UInt32(text) else {
                throw NetworkError(.xml, "missing or invalid vlan tag id attribute")
            }
            if id > 4095 { throw NetworkError(.xml, "vlan tag id \(id) too large (maximum 4095)") }
            let native = tag[attribute: "nativeMode"]
            if let native {
                guard native == "tagged" || native == "untagged" else { throw NetworkError(.xml, "Attribute \"nativeMode='\(native)'\" is invalid") }
                if sawNative { throw NetworkError(.xml, "duplicate native vlan setting") }
                sawNative = true
            }
            vlan.tags.append(VLAN.Tag(id: id, nativeMode: native))
        }
        if let trunk = element[attribute: "trunk"] {
            guard trunk == "yes" || trunk == "no" else {
                throw NetworkError(.xml, "invalid \"trunk='\(trunk)'\" in <vlan> - trunk='yes' is required for more than one vlan tag")
            }
            if trunk == "no" && tags.count > 1 {
                throw NetworkError(.xml, "invalid configuration in <vlan> - \"trunk='no'\" is not allowed with multiple vlan tags")
            }
            vlan.trunk = trunk == "yes"
        } else if tags.count > 1 {
            vlan.trunk = true
        }
        return vlan
    }
}

extension NetworkDefinition.PortGroup {
    static func read(_ element: XMLElement) throws(NetworkError) -> Self {
        guard let name = element[attribute: "name"] else { throw NetworkError(.xml, "Missing required name attribute in portgroup") }
        var group = Self(name: name)
        group.isDefault = element[attribute: "default"]?.lowercased() == "yes"
        group.trustGuestRxFilters = try NetworkXMLReading.tristate(element, "trustGuestRxFilters")
        group.virtualPort = element.element(named: "virtualport")
        if let bandwidth = element.element(named: "bandwidth") { group.bandwidth = try NetworkDefinition.readBandwidth(bandwidth, allowFloor: false) }
        if let vlan = element.element(named: "vlan") { group.vlan = try NetworkDefinition.readVLAN(vlan) }
        return group
    }
}

extension NetworkDefinition.Route {
    static func read(_ element: XMLElement, network: String) throws(NetworkError) -> Self {
        let family = element[attribute: "family"]
        guard let addressText = element[attribute: "address"] else {
            throw NetworkError(.xml, "Missing required address attribute in network '\(network)'")
        }
        guard let address = IPAddress(addressText) else { throw NetworkError(.xml, "Bad network address '\(addressText)' in route definition") }
        guard let gatewayText = element[attribute: "gateway"] else {
            throw NetworkError(.xml, "Missing required gateway attribute in route definition")
        }
        guard let gateway = IPAddress(gatewayText), gateway.family == address.family else {
            throw NetworkError(.xml, "Bad gateway address '\(gatewayText)' in route definition")
        }
        var netmask: IPAddress?
        if let text = element[attribute: "netmask"] {
            guard let mask = IPAddress(text), mask.family == .ipv4, address.family == .ipv4, mask.netmaskPrefix != nil else {
                throw NetworkError(.xml, "Bad netmask address '\(text)' in route definition")
            }
            netmask = mask
        }
        let prefix = try NetworkXMLReading.unsigned(element, "prefix")
        if let prefix, prefix > UInt32(address.family.bitCount) {
            throw NetworkError(.xml, "Invalid prefix \(prefix) specified in route definition, must be 0 - \(address.family.bitCount)")
        }
        if netmask != nil && prefix != nil {
            throw NetworkError(.xml, "route definition cannot have both a prefix and a netmask")
        }
        if let family, family != address.family.rawValue {
            throw NetworkError(.xml, "Invalid family '\(family)' for route definition '\(addressText)'")
        }
        return Self(family: family, address: address, netmask: netmask, prefix: prefix, gateway: gateway, metric: try NetworkXMLReading.unsigned(element, "metric"))
    }

    /// The route's prefix length (prefix, netmask, or the address family's natural one).
    public var effectivePrefix: Int {
        if let prefix { return Int(prefix) }
        if let netmask, let bits = netmask.netmaskPrefix { return bits }
        return address.naturalPrefix ?? 0
    }
}
