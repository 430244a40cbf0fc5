import Glibc
import XMLTree

extension DomainDefinition {
    /// `<interface><ip address family prefix peer>`: an address the guest side of an interface
    /// gets (for user-mode networking, the network QEMU's DHCP server hands out).
    public struct GuestIPAddress: Hashable, Sendable {
        /// The address family.
        public enum Family: String, ModelledValue {
            case ipv4, ipv6
        }

        /// The address, as `inet_ntop` writes it.
        public var address: String
        public var family: Family
        /// The prefix length; `nil`: none given (0).
        public var prefix: UInt32?
        /// `peer`: the other end of a point-to-point link.
        public var peer: String?

        static let schema = ElementSchema("ip", attributes: ["address", "family", "prefix", "peer"])

        /// Reads `<ip>` with libvirt's checks and messages (`virDomainNetIPParseXML`).
        init(_ element: XMLElement) throws(DomainXMLError) {
            guard let text = element[attribute: "address"] else { throw DomainXMLError(.invalid, line: element.line, "Missing required address in <ip>") }
            let requested: Family? = switch element[attribute: "family"] {
            case "ipv4"?: .ipv4
            case "ipv6"?: .ipv6
            default: nil
            }
            guard let (canonical, family) = Self.parse(text, family: requested) else {
                throw DomainXMLError(.invalid, line: element.line, "Invalid address '\(text)' in <ip>")
            }
            address = canonical
            self.family = family
            if let prefixText = element[attribute: "prefix"] {
                guard let value = AttributeValues.libvirtUInt32(prefixText) else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid prefix value '\(prefixText)' in <ip>")
                }
                prefix = value > 0 ? value : nil
            }
            if let peerText = element[attribute: "peer"] {
                guard let (canonicalPeer, _) = Self.parse(peerText, family: nil) else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid peer '\(peerText)' in <ip>")
                }
                peer = canonicalPeer
            }
        }

        /// `<ip>` as libvirt writes it: address, family, a prefix other than 0, peer.
        var element: XMLElement {
            var attributes = [XMLAttribute(name: "address", value: address), XMLAttribute(name: "family", value: family.rawValue)]
            if let prefix { attributes.append(XMLAttribute(name: "prefix", value: String(prefix))) }
            if let peer { attributes.append(XMLAttribute(name: "peer", value: peer)) }
            return XMLElement(name: "ip", attributes: attributes)
        }

        /// A numeric address of `family` (either when `nil`), in `inet_ntop`'s form.
        static func parse(_ text: String, family: Family?) -> (String, Family)? {
            for candidate in family.map({ [$0] }) ?? [.ipv4, .ipv6] {
                let domain = candidate == .ipv4 ? AF_INET : AF_INET6
                var bytes = [UInt8](repeating: 0, count: 16)
                guard inet_pton(domain, text, &bytes) == 1 else { continue }
                var output = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                guard inet_ntop(domain, bytes, &output, socklen_t(output.count)) != nil else { continue }
                return (String(cString: output), candidate)
            }
            return nil
        }
    }
}
