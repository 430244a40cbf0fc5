import XMLTree

/// What libvirt's network driver checks and fills in when a network is defined or created
/// (`networkValidate`): the bridge name (`virbr%d` when none or a template is given), the bridge
/// MAC, and the settings a forward mode cannot have.
public enum NetworkValidation {
    /// The highest `%d` tried for a bridge name (libvirt's `MAX_BRIDGE_ID`).
    public static let maximumBridgeID = 256

    /// Checks `definition` and fills in its bridge name and MAC.
    ///
    /// - Parameters:
    ///   - bridgeInUse: whether another network (not this one) uses a bridge name.
    ///   - deviceExists: whether the host has a network device of that name.
    public static func validate<G: RandomNumberGenerator>(
        _ definition: inout NetworkDefinition, bridgeInUse: (String) -> Bool, deviceExists: (String) -> Bool, random: inout G
    ) throws(NetworkError) {
        let name = definition.name
        if name.contains("\n") { throw NetworkError(.xmlDetail, "invalid char in name: \n") }
        let mode = definition.forwardModeName
        var bandwidthAllowed = false
        if definition.hasManagedBridge {
            try assignBridgeName(&definition, bridgeInUse: bridgeInUse, deviceExists: deviceExists)
            if definition.mac == nil { definition.mac = .random(using: &random) }
            bandwidthAllowed = true
        } else {
            if definition.forward?.mode == .bridge && definition.bridge.name != nil { bandwidthAllowed = true }
            if definition.mac != nil { throw NetworkError(.configUnsupported, "Unsupported <mac> element in network \(name) with forward mode='\(mode)'") }
            if !definition.ips.isEmpty { throw NetworkError(.configUnsupported, "Unsupported <ip> element in network \(name) with forward mode='\(mode)'") }
            if !(definition.dns.texts.isEmpty && definition.dns.hosts.isEmpty && definition.dns.services.isEmpty) {
                throw NetworkError(.configUnsupported, "Unsupported <dns> element in network \(name) with forward mode='\(mode)'")
            }
            if definition.domain != nil { throw NetworkError(.configUnsupported, "Unsupported <domain> element in network \(name) with forward mode='\(mode)'") }
        }
        if definition.bandwidth != nil && !bandwidthAllowed {
            throw NetworkError(.configUnsupported, "Unsupported network-wide <bandwidth> element in network \(name) with forward mode='\(mode)'")
        }
        if let forward = definition.forward {
            if !forward.interfaces.isEmpty && forward.mode == .hostdev {
                throw NetworkError(.configUnsupported, "hostdev network '\(name)' lists '\(forward.interfaces[0])' in the device pool, but hostdev networks require all devices to be listed by PCI address, not network device name")
            }
            if !forward.pciAddresses.isEmpty && forward.mode != .hostdev {
                throw NetworkError(.configUnsupported, "network '\(name)' has forward mode '\(mode)'  but lists a device by PCI address in the device pool. This is only supported for networks with forward mode 'hostdev'")
            }
            let kinds = (forward.physicalFunction != nil ? 1 : 0) + (forward.interfaces.isEmpty ? 0 : 1) + (forward.pciAddresses.isEmpty ? 0 : 1)
            if kinds > 1 {
                throw NetworkError(.configUnsupported, "<address>, <interface>, and <pf> elements of <forward> in network \(name) are mutually exclusive")
            }
        }
        for family in [IPAddress.Family.ipv4, .ipv6] where definition.ips(of: family).filter(\.hasDHCP).count > 1 {
            let label = family == .ipv4 ? "IPv4" : "IPv6"
            throw NetworkError(.configUnsupported, "Multiple \(label) dhcp sections found -- dhcp is supported only for a single \(label) address on each network")
        }
        try checkPortGroups(definition, bandwidthAllowed: bandwidthAllowed)
    }

    private static func checkPortGroups(_ definition: NetworkDefinition, bandwidthAllowed: Bool) throws(NetworkError) {
        let name = definition.name, mode = definition.forwardModeName
        let vlanAllowed = definition.forward?.mode == .hostdev || definition.forward?.mode == .passthrough
            || (definition.forward?.mode == .bridge && definition.virtualPort?[attribute: "type"] == "openvswitch")
        let vlanUsed = !(definition.vlan?.tags.isEmpty ?? true)
        var badVLANUse = false
        var defaultGroup: String?
        for (index, group) in definition.portGroups.enumerated() {
            if vlanUsed || !(group.vlan?.tags.isEmpty ?? true) {
                if let port = group.virtualPort {
                    if definition.forward?.mode != .bridge || port[attribute: "type"] != "openvswitch" { badVLANUse = true }
                } else if !vlanAllowed {
                    badVLANUse = true
                }
            }
            if group.isDefault {
                if let defaultGroup {
                    throw NetworkError(.configUnsupported, "network '\(name)' has multiple default <portgroup> elements (\(defaultGroup) and \(group.name)), but only one default is allowed")
                }
                defaultGroup = group.name
            }
            if definition.portGroups[(index + 1)...].contains(where: { $0.name == group.name }) {
                throw NetworkError(.configUnsupported, "multiple <portgroup> elements with the same name (\(group.name)) in network '\(name)'")
            }
            if group.bandwidth != nil && !bandwidthAllowed {
                throw NetworkError(.configUnsupported, "Unsupported <bandwidth> element in network '\(name)' in portgroup '\(group.name)' with forward mode='\(mode)'")
            }
        }
        if badVLANUse || (vlanUsed && !vlanAllowed && defaultGroup == nil) {
            throw NetworkError(.configUnsupported, "<vlan> element specified for network \(name), whose type doesn't support vlan configuration")
        }
        if definition.forward?.mode == .hostdev, let group = definition.portGroups.first(where: { $0.bandwidth != nil }) {
            throw NetworkError(.configUnsupported, "unsupported <bandwidth> element in <portgroup name='\(group.name)'> of network '\(name)' with forward mode='\(mode)'")
        }
    }

    /// libvirt's `networkBridgeNameValidate`: a given name must not be another network's; no
    /// name, or a template with one `%d`, takes the first free `virbrN` (or template) name.
    static func assignBridgeName(_ definition: inout NetworkDefinition, bridgeInUse: (String) -> Bool, deviceExists: (String) -> Bool) throws(NetworkError) {
        if let name = definition.bridge.name, !name.contains("%d") {
            if bridgeInUse(name) { throw NetworkError(.internalError, "bridge name '\(name)' already in use.") }
            return
        }
        var template = "virbr%d"
        if let given = definition.bridge.name, given.components(separatedBy: "%").count == 2 { template = given }
        for id in 0...maximumBridgeID {
            let candidate = template.replacingFirst("%d", with: "\(id)")
            if !bridgeInUse(candidate) && !deviceExists(candidate) {
                definition.bridge.name = candidate
                return
            }
        }
        throw NetworkError(.internalError, "Bridge generation exceeded max id \(maximumBridgeID)")
    }
}

extension String {
    func components(separatedBy separator: Character) -> [Substring] {
        split(separator: separator, omittingEmptySubsequences: false)
    }

    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard let range = range(of: target) else { return self }
        return String(self[..<range.lowerBound]) + replacement + String(self[range.upperBound...])
    }

    func range(of target: String) -> Range<String.Index>? {
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) { return index..<self.index(index, offsetBy: target.count) }
            index = self.index(after: index)
        }
        return nil
    }
}
