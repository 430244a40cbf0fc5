import CorralJSON
import CorralProtocol
import QMP

/// QEMU's VNC client events as libvirt's graphics event: the phase (connect, initialize,
/// disconnect), both ends' addresses, the authentication scheme and who the client is.
enum GraphicsEvents {
    static func forward(_ event: QMPEvent, domain: RemoteDomain, events: EventHub) {
        let phase: Int32
        switch event.name {
        case "VNC_CONNECTED": phase = 0
        case "VNC_INITIALIZED": phase = 1
        default: phase = 2
        }
        func address(_ value: JSONValue?) -> GraphicsAddress {
            // VIR_DOMAIN_EVENT_GRAPHICS_ADDRESS_IPV4 0, _IPV6 1, _UNIX 2.
            let family: Int32 = value?["family"]?.stringValue == "ipv6" ? 1 : value?["family"]?.stringValue == "unix" ? 2 : 0
            return GraphicsAddress(family: family, node: value?["host"]?.stringValue ?? "", service: value?["service"]?.stringValue ?? "")
        }
        let client = event.data["client"]
        var subject: [GraphicsIdentity] = []
        if let name = client?["x509_dname"]?.stringValue { subject.append(GraphicsIdentity(type: "x509dname", name: name)) }
        if let name = client?["sasl_username"]?.stringValue { subject.append(GraphicsIdentity(type: "saslUsername", name: name)) }
        events.graphics(
            domain, phase: phase, local: address(event.data["server"]), remote: address(client), authScheme: event.data["server"]?["auth"]?.stringValue ?? "none",
            subject: subject)
    }
}
