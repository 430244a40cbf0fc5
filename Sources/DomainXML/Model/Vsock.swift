import XMLTree

extension DomainDefinition {
    /// `<vsock>`: a virtio socket between host and guest (AF_VSOCK), addressed by the guest's
    /// context ID (libvirt's `virDomainVsockDef`).
    public struct Vsock: Hashable, Sendable, ModelledElement {
        /// `<vsock model>`: modern virtio, transitional (legacy and modern, in a conventional PCI
        /// slot) or non-transitional.
        public typealias Model = VirtioModel

        public var model: Model
        /// `<cid auto>`: the daemon picks the lowest free context ID at start.
        public var autoCID: Bool
        /// `<cid address>`: the guest's context ID when not automatic (3 and up).
        public var cid: UInt32?
        public var alias: String?
        public var pciAddress: PCIAddress?
        /// `<driver iommu ats packed page_per_vq>`.
        public var virtio = VirtioOptions()

        static let schema = ElementSchema("vsock", attributes: ["model"], children: [
            ElementSchema("cid", attributes: ["auto", "address"]), .alias, .address, ElementSchema("driver", attributes: VirtioOptions.attributes),
        ])

        /// Reads a normalised `<vsock>` (model `virtio`, `<cid auto>` written).
        init(_ element: XMLElement) throws(DomainXMLError) {
            model = try Model.attribute("model", of: element, default: .virtio)
            let cidElement = element.element(named: "cid")
            autoCID = cidElement?[attribute: "auto"] != "no"
            if let text = cidElement?[attribute: "address"] {
                guard let value = UInt32(text), value > 0 else {
                    throw DomainXMLError(.invalid, line: cidElement?.line, "Invalid value for attribute 'address' in element 'cid': '\(text)'. Expected non-zero value")
                }
                cid = value
            }
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
            virtio = try VirtioOptions(element.element(named: "driver"))
        }
    }
}
