import XMLTree

extension DomainDefinition {
    /// `<video>`.
    public struct Video: Hashable, Sendable, ModelledElement {
        /// `<model type>`.
        public enum Model: String, ModelledValue {
            case vga, cirrus, vmvga, xen, vbox, qxl, parallels, virtio, gop, none, bochs, ramfb
        }

        public var model: Model
        public var vram: Int?
        public var heads: Int?
        public var alias: String?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?

        static let schema = ElementSchema("video", children: [ElementSchema("model", attributes: ["type", "vram", "heads", "primary"]), .alias, .address])

        init(_ element: XMLElement) throws(DomainXMLError) {
            let model = element.element(named: "model")
            self.model = try Model.attribute("type", of: model, default: .vga)
            vram = model?[attribute: "vram"].flatMap { Int($0) }
            heads = model?[attribute: "heads"].flatMap { Int($0) }
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
        }
    }
}
