import Glibc
import XMLTree

extension DomainNormalizer {
    /// A guestfwd channel's target as libvirt reads and writes it
    /// (`virDomainChrDefParseTargetXML`): an IPv4 address, read as `getaddrinfo` reads a numeric
    /// host (so `10.2` is `10.0.0.2`) and written in dotted form; a port, a non-negative
    /// integer of which libvirt keeps the low 16 bits.
    static func normalizeGuestForwards(_ devices: inout XMLElement) throws(DomainXMLError) {
        var failure: DomainXMLError?
        devices.updateElements { channel in
            guard failure == nil, channel.name == "channel", channel.namespace == nil else { return }
            channel.updateElements { target in
                guard failure == nil, target.name == "target", target.namespace == nil, target[attribute: "type"] == "guestfwd" else { return }
                do throws(DomainXMLError) {
                    guard let address = target[attribute: "address"] else {
                        throw DomainXMLError(.invalid, line: target.line, "guestfwd channel does not define a target address")
                    }
                    target[attribute: "address"] = try ipv4Address(address, line: target.line)
                    guard let port = target[attribute: "port"] else {
                        throw DomainXMLError(.invalid, line: target.line, "Missing required attribute 'port' in element 'target'")
                    }
                    guard let value = UInt32(port) else {
                        throw DomainXMLError(.invalid, line: target.line, "Invalid value for attribute 'port' in element 'target': '\(port)'. Expected non-negative integer value")
                    }
                    target[attribute: "port"] = String(value & 0xFFFF)
                } catch {
                    failure = error
                }
            }
        }
        if let failure { throw failure }
    }

    /// `text` as a numeric IPv4 address in dotted form; refused as libvirt refuses another.
    static func ipv4Address(_ text: String, line: Int) throws(DomainXMLError) -> String {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICHOST
        hints.ai_family = AF_UNSPEC
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(text, nil, &hints, &result)
        guard status == 0, let info = result else {
            throw DomainXMLError(.invalid, line: line, "Cannot parse socket address '\(text)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(info) }
        guard info.pointee.ai_family == AF_INET, let socketAddress = info.pointee.ai_addr else {
            throw DomainXMLError(.unsupported, line: line, "guestfwd channel only supports IPv4 addresses")
        }
        var address = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
        var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        guard inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count)) != nil else {
            throw DomainXMLError(.invalid, line: line, "Cannot parse socket address '\(text)'")
        }
        return String(cString: buffer)
    }
}
