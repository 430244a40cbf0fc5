import XMLTree

extension DomainDefinition {
    /// `<rng>`.
    public struct RandomNumberGenerator: Hashable, Sendable, ModelledElement {
        /// `<rng model>`.
        public enum Model: String, ModelledValue {
            case virtio, virtioTransitional = "virtio-transitional", virtioNonTransitional = "virtio-non-transitional"
        }

        /// `<backend model>`.
        public enum Backend: String, ModelledValue {
            case random, egd, builtin
        }

        public var model: Model
        public var backendModel: Backend
        public var backendPath: String?
        public var alias: String?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?
        /// `<driver iommu ats packed page_per_vq>`.
        public var virtio = VirtioOptions()

        static let schema = ElementSchema("rng", attributes: ["model"], children: [
            ElementSchema("backend", attributes: ["model"]), .alias, .address, ElementSchema("driver", attributes: VirtioOptions.attributes),
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            let backend = element.element(named: "backend")
            model = try Model.attribute("model", of: element, default: .virtio)
            backendModel = try Backend.attribute("model", of: backend, default: .random)
            backendPath = backend?.text.isEmpty == false ? backend?.text : nil
            virtio = try VirtioOptions(element.element(named: "driver"))
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
        }
    }
}
