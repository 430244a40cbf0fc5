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
        if let plugType, let bridge {
            out += "  <plug type='\(plugType.rawValue)' bridge='\(XMLTreeWriter.escape(bridge, attribute: true))' macTableManager='\(macTableManager ?? "kernel")'/>\n"
        }
        out += "</networkport>\n"
        return out
    }
}
