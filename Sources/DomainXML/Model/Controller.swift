import XMLTree

extension DomainDefinition {
    /// `<controller>`.
    public struct Controller: Hashable, Sendable, ModelledElement {
        /// `<controller type>`.
        public enum Kind: String, ModelledValue {
            case ide, fdc, scsi, sata, virtioSerial = "virtio-serial", ccid, usb, pci, xenbus, isa
        }

        public var type: Kind
        public var index: Int
        public var model: String?
        public var alias: String?

        static let schema = ElementSchema("controller", attributes: ["type", "index", "model"], children: [.alias, .address])

        init(_ element: XMLElement) throws(DomainXMLError) {
            type = try Kind.requiredAttribute("type", of: element)
            index = Int(element[attribute: "index"] ?? "0") ?? 0
            model = element[attribute: "model"]
            alias = DeviceCommon.alias(element)
        }
    }
}
