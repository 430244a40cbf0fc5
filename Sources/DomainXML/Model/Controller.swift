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
        /// `<master startport>` of a USB companion controller (UHCI beside an EHCI).
        public var masterStartPort: Int?

        static let schema = ElementSchema("controller", attributes: ["type", "index", "model"], children: [
            .alias, .address, ElementSchema("master", attributes: ["startport"]),
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            type = try Kind.requiredAttribute("type", of: element)
            index = Int(element[attribute: "index"] ?? "0") ?? 0
            model = element[attribute: "model"]
            alias = DeviceCommon.alias(element)
            if let master = element.element(named: "master") {
                guard let text = master[attribute: "startport"], let port = Int(text), (0...255).contains(port) else {
                    throw DomainXMLError(.invalid, line: master.line, "Cannot parse <master> 'startport' attribute")
                }
                masterStartPort = port
            }
        }
    }
}
