import XMLTree

extension DomainDefinition {
    /// `<memballoon>`.
    public struct MemoryBalloon: Hashable, Sendable, ModelledElement {
        /// `<memballoon model>`.
        public enum Model: String, ModelledValue {
            case virtio, xen, none, virtioTransitional = "virtio-transitional", virtioNonTransitional = "virtio-non-transitional"
        }

        public var model: Model
        public var alias: String?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?

        static let schema = ElementSchema("memballoon", attributes: ["model"], children: [.alias, .address])

        init(_ element: XMLElement) throws(DomainXMLError) {
            model = try Model.attribute("model", of: element, default: .virtio)
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
        }
    }
}
