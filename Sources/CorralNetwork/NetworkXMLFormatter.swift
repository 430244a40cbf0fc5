import XMLTree

/// Writes a ``NetworkDefinition`` as libvirt's `virNetworkDefFormatBuf` does: the same element
/// order, attributes and defaults, so `net-dumpxml` reads the same from both daemons.
public enum NetworkXMLFormatter {
    /// The document text.
    ///
    /// - Parameter connections: the guests' interfaces on the running network (written unless
    ///   zero or `inactive`).
    public static func format(_ definition: NetworkDefinition, connections: Int = 0, inactive: Bool = true) -> String {
        var out = Lines()
        var rootAttributes = ""
        if !inactive && connections > 0 { rootAttributes += " connections='\(connections)'" }
        if definition.ipv6WithoutGateway { rootAttributes += " ipv6='yes'" }
        if let trust = definition.trustGuestRxFilters { rootAttributes += " trustGuestRxFilters='\(yesNo(trust))'" }
        out.add("<network\(rootAttributes)>")
        out.indent += 2
        out.add("<name>\(escape(definition.name))</name>")
        out.add("<uuid>\(definition.uuid)</uuid>")
        if let metadata = definition.metadata { out.addElement(metadata) }
        if let forward = definition.forward { formatForward(forward, inactive: inactive, into: &out) }
        let hasBridge = definition.hasManagedBridge
        if hasBridge || definition.bridge.name != nil || definition.bridge.macTableManager != nil {
            var line = "<bridge"
            if let name = definition.bridge.name { line += " name='\(attribute(name))'" }
            if let zone = definition.bridge.zone { line += " zone='\(attribute(zone))'" }
            if hasBridge { line += " stp='\(definition.bridge.stp ? "on" : "off")' delay='\(definition.bridge.delay)'" }
            if let manager = definition.bridge.macTableManager { line += " macTableManager='\(manager)'" }
            out.add(line + "/>")
        }
        if let mtu = definition.mtu { out.add("<mtu size='\(mtu)'/>") }
        if let mac = definition.mac { out.add("<mac address='\(mac)'/>") }
        if let domain = definition.domain {
            out.add("<domain name='\(attribute(domain.name))'\(domain.localOnly.map { " localOnly='\(yesNo($0))'" } ?? "")/>")
        }
        formatDNS(definition.dns, into: &out)
        if let vlan = definition.vlan { formatVLAN(vlan, into: &out) }
        if let bandwidth = definition.bandwidth { formatBandwidth(bandwidth, into: &out) }
        if let isolated = definition.portIsolated { out.add("<port isolated='\(yesNo(isolated))'/>") }
        for ip in definition.ips { formatIP(ip, into: &out) }
        for route in definition.routes {
            var line = "<route"
            if let family = route.family { line += " family='\(family)'" }
            line += " address='\(route.address)'"
            if let netmask = route.netmask { line += " netmask='\(netmask)'" }
            if let prefix = route.prefix { line += " prefix='\(prefix)'" }
            line += " gateway='\(route.gateway)'"
            if let metric = route.metric { line += " metric='\(metric)'" }
            out.add(line + "/>")
        }
        if let port = definition.virtualPort { out.addElement(port) }
        for group in definition.portGroups {
            var line = "<portgroup name='\(attribute(group.name))'"
            if group.isDefault { line += " default='yes'" }
            if let trust = group.trustGuestRxFilters { line += " trustGuestRxFilters='\(yesNo(trust))'" }
            out.add(line + ">")
            out.indent += 2
            if let vlan = group.vlan { formatVLAN(vlan, into: &out) }
            if let port = group.virtualPort { out.addElement(port) }
            if let bandwidth = group.bandwidth { formatBandwidth(bandwidth, into: &out) }
            out.indent -= 2
            out.add("</portgroup>")
        }
        out.indent -= 2
        out.add("</network>")
        return out.text
    }

    private static func formatForward(_ forward: NetworkDefinition.Forward, inactive: Bool, into out: inout Lines) {
        var line = "<forward"
        if forward.physicalFunction == nil, let dev = forward.interfaces.first { line += " dev='\(attribute(dev))'" }
        line += " mode='\(forward.mode.rawValue)'"
        if forward.mode == .hostdev { line += forward.managed ? " managed='yes'" : " managed='no'" }
        let nat = forward.nat
        let natHasContent = nat.map { $0.addressStart != nil || $0.addressEnd != nil || $0.portStart != 0 || $0.portEnd != 0 || $0.ipv6 != nil } ?? false
        let short = forward.interfaces.isEmpty && forward.pciAddresses.isEmpty && forward.physicalFunction == nil && forward.driverName == nil && !natHasContent
        out.add(line + (short ? "/>" : ">"))
        guard !short else { return }
        out.indent += 2
        if let driver = forward.driverName { out.add("<driver name='\(driver)'/>") }
        if forward.mode == .nat, let nat, natHasContent {
            let natLine = "<nat" + (nat.ipv6.map { " ipv6='\(yesNo($0))'" } ?? "")
            if nat.addressStart == nil && nat.addressEnd == nil && nat.portStart == 0 && nat.portEnd == 0 {
                out.add(natLine + "/>")
            } else {
                out.add(natLine + ">")
                out.indent += 2
                if let start = nat.addressStart {
                    out.add("<address start='\(start)'\(nat.addressEnd.map { " end='\($0)'" } ?? "")/>")
                }
                if nat.portStart != 0 || nat.portEnd != 0 {
                    out.add("<port start='\(nat.portStart)'\(nat.portEnd != 0 ? " end='\(nat.portEnd)'" : "")/>")
                }
                out.indent -= 2
                out.add("</nat>")
            }
        }
        if let pf = forward.physicalFunction { out.add("<pf dev='\(attribute(pf))'/>") }
        if forward.physicalFunction == nil || !inactive {
            for interface in forward.interfaces { out.add("<interface dev='\(attribute(interface))'/>") }
            for pci in forward.pciAddresses {
                out.add("<address type='pci' domain='0x\(hex(pci.domain, 4))' bus='0x\(hex(pci.bus, 2))' slot='0x\(hex(pci.slot, 2))' function='0x\(hex(pci.function, 1))'/>")
            }
        }
        out.indent -= 2
        out.add("</forward>")
    }

    private static func formatDNS(_ dns: NetworkDefinition.DNS, into out: inout Lines) {
        guard !dns.isEmpty else { return }
        var line = "<dns"
        if let enable = dns.enable { line += " enable='\(yesNo(enable))'" }
        if let plain = dns.forwardPlainNames { line += " forwardPlainNames='\(yesNo(plain))'" }
        if dns.forwarders.isEmpty && dns.hosts.isEmpty && dns.services.isEmpty && dns.texts.isEmpty {
            out.add(line + "/>")
            return
        }
        out.add(line + ">")
        out.indent += 2
        for forwarder in dns.forwarders {
            var entry = "<forwarder"
            if let domain = forwarder.domain { entry += " domain='\(attribute(domain))'" }
            if let address = forwarder.address { entry += " addr='\(address)'" }
            out.add(entry + "/>")
        }
        for text in dns.texts { out.add("<txt name='\(attribute(text.name))' value='\(attribute(text.value))'/>") }
        for service in dns.services {
            guard let name = service.service, let proto = service.protocol else { continue }
            var entry = "<srv service='\(attribute(name))' protocol='\(attribute(proto))'"
            if let domain = service.domain { entry += " domain='\(attribute(domain))'" }
            if let target = service.target { entry += " target='\(attribute(target))'" }
            if service.port != 0 { entry += " port='\(service.port)'" }
            if service.priority != 0 { entry += " priority='\(service.priority)'" }
            if service.weight != 0 { entry += " weight='\(service.weight)'" }
            out.add(entry + "/>")
        }
        for host in dns.hosts {
            out.add("<host ip='\(host.ip.map { "\($0)" } ?? "")'>")
            out.indent += 2
            for name in host.hostnames { out.add("<hostname>\(escape(name))</hostname>") }
            out.indent -= 2
            out.add("</host>")
        }
        out.indent -= 2
        out.add("</dns>")
    }

    private static func formatIP(_ ip: NetworkDefinition.IP, into out: inout Lines) {
        var line = "<ip"
        if let family = ip.family { line += " family='\(attribute(family))'" }
        line += " address='\(ip.address)'"
        if let netmask = ip.netmask { line += " netmask='\(netmask)'" }
        if ip.prefix > 0 { line += " prefix='\(ip.prefix)'" }
        if let ptr = ip.localPTR { line += " localPtr='\(yesNo(ptr))'" }
        // libvirt always writes <ip> open and closed, even when empty.
        out.add(line + ">")
        out.indent += 2
        if let root = ip.tftpRoot { out.add("<tftp root='\(attribute(root))'/>") }
        if ip.hasDHCP {
            out.add("<dhcp>")
            out.indent += 2
            for range in ip.ranges { addWithLease("<range start='\(range.start)' end='\(range.end)'", "range", range.lease, into: &out) }
            for host in ip.hosts {
                var entry = "<host"
                if let mac = host.mac { entry += " mac='\(mac)'" }
                if let id = host.id { entry += " id='\(id)'" }
                if let name = host.name { entry += " name='\(attribute(name))'" }
                if let address = host.ip { entry += " ip='\(address)'" }
                addWithLease(entry, "host", host.lease, into: &out)
            }
            if let file = ip.bootFile {
                out.add("<bootp file='\(attribute(file))'\(ip.bootServer.map { " server='\($0)'" } ?? "")/>")
            }
            out.indent -= 2
            out.add("</dhcp>")
        }
        out.indent -= 2
        out.add("</ip>")
    }

    private static func addWithLease(_ opening: String, _ name: String, _ lease: NetworkDefinition.LeaseTime?, into out: inout Lines) {
        guard let lease else {
            out.add(opening + "/>")
            return
        }
        out.add(opening + ">")
        out.indent += 2
        out.add(lease.expiry == 0 ? "<lease expiry='0'/>" : "<lease expiry='\(lease.expiry)' unit='\(lease.unit.rawValue)'/>")
        out.indent -= 2
        out.add("</\(name)>")
    }

    static func formatVLAN(_ vlan: NetworkDefinition.VLAN, into out: inout Lines) {
        guard !vlan.tags.isEmpty else { return }
        out.add(vlan.trunk == true ? "<vlan trunk='yes'>" : "<vlan>")
        out.indent += 2
        for tag in vlan.tags { out.add("<tag id='\(tag.id)'\(tag.nativeMode.map { " nativeMode='\($0)'" } ?? "")/>") }
        out.indent -= 2
        out.add("</vlan>")
    }

    static func formatBandwidth(_ bandwidth: NetworkDefinition.Bandwidth, into out: inout Lines) {
        out.add("<bandwidth>")
        out.indent += 2
        for (name, rate) in [("inbound", bandwidth.inbound), ("outbound", bandwidth.outbound)] {
            guard let rate, rate.average != 0 || rate.floor != 0 else { continue }
            var line = "<\(name)"
            if rate.average != 0 { line += " average='\(rate.average)'" }
            if rate.peak != 0 { line += " peak='\(rate.peak)'" }
            if rate.floor != 0 { line += " floor='\(rate.floor)'" }
            if rate.burst != 0 { line += " burst='\(rate.burst)'" }
            out.add(line + "/>")
        }
        out.indent -= 2
        out.add("</bandwidth>")
    }

    static func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }
    static func escape(_ text: String) -> String { XMLTreeWriter.escape(text, attribute: false) }
    static func attribute(_ text: String) -> String { XMLTreeWriter.escape(text, attribute: true) }

    static func hex(_ value: UInt32, _ width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Indented lines.
    struct Lines {
        var text = ""
        var indent = 0

        mutating func add(_ line: String) {
            text += String(repeating: " ", count: indent) + line + "\n"
        }

        /// A kept element, written with libvirt's indentation at the current depth.
        mutating func addElement(_ element: XMLElement) {
            for line in XMLTreeWriter(libxml2Style: true).write(element).split(separator: "\n", omittingEmptySubsequences: true) {
                add(String(line))
            }
        }
    }
}
