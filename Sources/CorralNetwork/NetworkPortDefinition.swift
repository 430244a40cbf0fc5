import XMLTree

/// A guest interface's connection to a network (`<networkport>`, libvirt's `virNetworkPortDef`).
public struct NetworkPortDefinition: Hashable, Sendable {
    /// How the port plugs into the host.
    public enum PlugType: String, Hashable, Sendable {
        /// A bridge the network driver made.
        case network
        /// An existing host bridge.
        case bridge
    }

    public var uuid: String
    public var ownerName: String
    public var ownerUUID: String
    public var mac: MACAddress
    /// `<group>`: the port group asked for.
    public var portGroup: String?
    public var plugType: PlugType?
    public var bridge: String?
    public var macTableManager: String?
    /// `<bandwidth>`: the interface's own, else its port group's.
    public var bandwidth: NetworkDefinition.Bandwidth?
    /// `<port isolated>`: the interface's, else the network's.
    public var isolated: Bool?
    /// The host device the guest side made for it (its tap); not part of the XML.
    public var device: String?

    public init(uuid: String, ownerName: String, ownerUUID: String, mac: MACAddress) {
        self.uuid = uuid
        self.ownerName = ownerName
        self.ownerUUID = ownerUUID
        self.mac = mac
    }

    /// Reads `<networkport>` (`virNetworkPortDefParseXML`).
    public static func parse(_ text: String, newUUID: () -> String) throws(NetworkError) -> NetworkPortDefinition {
        let root: XMLElement
        do {
            root = try XMLTreeParser.parse(text)
        } catch {
            throw NetworkError(.xmlDetail, "(networkport_definition):\(error.line): \(error.message)")
        }
        guard root.name == "networkport" else { throw NetworkError(.xml, "unexpected root element <\(root.name)>, expecting <networkport>") }
        let uuid: String
        if let text = NetworkXMLReading.childText(root, "uuid") {
            guard let canonical = NetworkXMLReading.canonicalUUID(text) else { throw NetworkError(.internalError, "Unable to parse UUID '\(text)'") }
            uuid = canonical
        } else {
            uuid = newUUID()
        }
        guard let owner = root.element(named: "owner") else { throw NetworkError(.internalError, "Missing owner in network port") }
        guard let ownerName = NetworkXMLReading.childText(owner, "name") else { throw NetworkError(.internalError, "Missing owner name in network port") }
        guard let ownerUUIDText = NetworkXMLReading.childText(owner, "uuid") else { throw NetworkError(.internalError, "Missing owner UUID in network port") }
        guard let ownerUUID = NetworkXMLReading.canonicalUUID(ownerUUIDText) else {
            throw NetworkError(.internalError, "Unable to parse UUID '\(ownerUUIDText)'")
        }
        guard let macText = root.element(named: "mac")?[attribute: "address"] else { throw NetworkError(.internalError, "Missing mac address in network port") }
        guard let mac = MACAddress(macText) else { throw NetworkError(.internalError, "Unable to parse MAC '\(macText)'") }
        var port = NetworkPortDefinition(uuid: uuid, ownerName: ownerName, ownerUUID: ownerUUID, mac: mac)
        port.portGroup = NetworkXMLReading.childText(root, "group")
        if let bandwidth = root.element(named: "bandwidth") { port.bandwidth = try NetworkDefinition.readBandwidth(bandwidth, allowFloor: true) }
        port.isolated = try NetworkXMLReading.tristate(root.element(named: "port"), "isolated")
        if let plug = root.element(named: "plug"), let type = plug[attribute: "type"] {
            guard let parsed = PlugType(rawValue: type) else { throw NetworkError(.configUnsupported, "Unsupported network port plug type '\(type)'") }
            port.plugType = parsed
            port.bridge = plug[attribute: "bridge"]
            port.macTableManager = plug[attribute: "macTableManager"]
        }
        return port
    }

    /// `<networkport>`, as libvirt writes it.
    public var xml: String {
        var out = "<networkport>\n  <uuid>\(uuid)</uuid>\n"
        out += "  <owner>\n    <name>\(XMLTreeWriter.escape(ownerName, attribute: false))</name>\n    <uuid>\(ownerUUID)</uuid>\n  </owner>\n"
        if let portGroup { out += "  <group>\(XMLTreeWriter.escape(portGroup, attribute: false))</group>\n" }
        out += "  <mac address='\(mac)'/>\n"
        if let bandwidth {
            var lines = NetworkXMLFormatter.Lines()
            lines.indent = 2
            NetworkXMLFormatter.formatBandwidth(bandwidth, into: &lines)
            out += lines.text
        }
        if let isolated { out += "  <port isolated='\(isolated ? "yes" : "no")'/>\n" }
        if let plugType, let bridge {
            out += "  <plug type='\(plugType.rawValue)' bridge='\(XMLTreeWriter.escape(bridge, attribute: true))'"
            if let macTableManager { out += " macTableManager='\(macTableManager)'" }
            out += "/>\n"
        }
        out += "</networkport>\n"
        return out
    }
}

extension NetworkDefinition.Bandwidth {
    /// libvirt's port parameters (`VIR_NETWORK_PORT_BANDWIDTH_*`), in its order; a direction
    /// without a rate has none.
    public var parameters: [(String, UInt64)] {
        var out: [(String, UInt64)] = []
        if let inbound {
            out += [("inbound.average", inbound.average), ("inbound.peak", inbound.peak), ("inbound.floor", inbound.floor), ("inbound.burst", inbound.burst)]
        }
        if let outbound { out += [("outbound.average", outbound.average), ("outbound.peak", outbound.peak), ("outbound.burst", outbound.burst)] }
        return out
    }

    /// The names `parameters` uses.
    public static let parameterNames = [
        "inbound.average", "inbound.peak", "inbound.floor", "inbound.burst", "outbound.average", "outbound.peak", "outbound.burst",
    ]

    /// This bandwidth with `values` (by parameter name) set; a direction whose average becomes 0
    /// (and, inbound, whose floor is 0) goes away, as libvirt's `virNetDevBandwidthUpdateRate`.
    public func setting(_ values: [String: UInt64]) -> NetworkDefinition.Bandwidth? {
        var result = self
        for direction in ["inbound", "outbound"] {
            let given = values.filter { $0.key.hasPrefix(direction + ".") }
            guard !given.isEmpty else { continue }
            var rate = (direction == "inbound" ? result.inbound : result.outbound) ?? NetworkDefinition.Rate()
            for (name, value) in given {
                switch name.dropFirst(direction.count + 1) {
                case "average": rate.average = value
                case "peak": rate.peak = value
                case "burst": rate.burst = value
                case "floor": rate.floor = value
                default: break
                }
            }
            let keep = rate.average != 0 || rate.floor != 0
            if direction == "inbound" { result.inbound = keep ? rate : nil } else { result.outbound = keep ? rate : nil }
        }
        return result.inbound == nil && result.outbound == nil ? nil : result
    }
}
