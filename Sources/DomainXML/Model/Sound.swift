import XMLTree

extension DomainDefinition {
    /// `<sound>`.
    public struct Sound: Hashable, Sendable, ModelledElement {
        /// `<sound model>`.
        public enum Model: String, ModelledValue {
            case sb16, es1370, pcspk, ac97, ich6, ich7, ich9, usb
        }

        public var model: Model
        public var alias: String?
        /// `<address type='pci'>`, when given (or assigned at define).
        public var pciAddress: PCIAddress?

        static let schema = ElementSchema("sound", attributes: ["model"], children: [.alias, .address])

        init(_ element: XMLElement) throws(DomainXMLError) {
            pciAddress = try PCIAddress(device: element)
            model = try Model.requiredAttribute("model", of: element)
            alias = DeviceCommon.alias(element)
        }
    }
}
