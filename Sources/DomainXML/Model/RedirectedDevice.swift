import XMLTree

extension DomainDefinition {
    /// `<redirdev>`: a USB port whose devices come from elsewhere — a SPICE client
    /// (`type='spicevmc'`) or a usbredir server over TCP.
    public struct RedirectedDevice: Hashable, Sendable, ModelledElement {
        /// `<redirdev bus>`.
        public enum Bus: String, ModelledValue {
            case usb
        }

        /// `<redirdev type>`: where the USB traffic goes.
        public enum Kind: String, ModelledValue {
            case spicevmc, tcp
        }

        public var bus: Bus
        public var type: Kind
        /// `<source host service>` of a TCP redirection.
        public var host: String?
        public var service: String?
        public var alias: String?
        /// `<address type='usb'>`, when given (or assigned at define).
        public var usbAddress: USBAddress?

        static let schema = ElementSchema("redirdev", attributes: ["bus", "type"], children: [
            ElementSchema("source", attributes: ["mode", "host", "service"]), CharacterDevice.protocolSchema, .alias, .address, .boot,
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            bus = try Bus.attribute("bus", of: element, default: .usb)
            type = try Kind.requiredAttribute("type", of: element)
            let source = element.element(named: "source")
            host = source?[attribute: "host"]
            service = source?[attribute: "service"]
            if type == .tcp && service == nil {
                throw DomainXMLError(.invalid, line: element.line, "Missing source service attribute for char device")
            }
            alias = DeviceCommon.alias(element)
            usbAddress = DeviceCommon.usbAddress(element)
        }

        /// As a character device (its host side).
        public var characterDevice: CharacterDevice {
            var device = CharacterDevice(type: type == .spicevmc ? .spicevmc : .tcp)
            device.host = host
            device.service = service
            device.mode = "connect"
            return device
        }
    }
}
