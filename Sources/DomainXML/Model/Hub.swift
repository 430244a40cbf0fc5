import XMLTree

extension DomainDefinition {
    /// `<hub type='usb'>`: a USB hub (QEMU's `usb-hub`) on a USB port.
    public struct Hub: Hashable, Sendable, ModelledElement {
        /// `<hub type>`: only USB hubs exist.
        public enum Kind: String, ModelledValue {
            case usb
        }

        public var type: Kind
        public var alias: String?
        /// `<address type='usb'>`, when given (or assigned at define).
        public var usbAddress: USBAddress?

        static let schema = ElementSchema("hub", attributes: ["type"], children: [.alias, .address])

        init(_ element: XMLElement) throws(DomainXMLError) {
            type = try Kind.requiredAttribute("type", of: element)
            alias = DeviceCommon.alias(element)
            usbAddress = DeviceCommon.usbAddress(element)
        }
    }
}
