import XMLTree

extension DomainDefinition {
    /// `<input>`.
    public struct Input: Hashable, Sendable, ModelledElement {
        /// `<input type>`.
        public enum Kind: String, ModelledValue {
            case mouse, tablet, keyboard, passthrough, evdev
        }

        /// `<input bus>`.
        public enum Bus: String, ModelledValue {
            case ps2, usb, xen, parallels, virtio, none
        }

        public var type: Kind
        public var bus: Bus?
        public var alias: String?
        /// `<address type='usb'>`, when given (or assigned at define).
        public var usbAddress: USBAddress?
        /// `<address type='pci'>` of a virtio input device.
        public var pciAddress: PCIAddress?
        /// `<driver iommu ats packed page_per_vq>` (used on the virtio bus; libvirt keeps and
        /// ignores them on others).
        public var virtio = VirtioOptions()

        static let schema = ElementSchema("input", attributes: ["type", "bus"], children: [ElementSchema("driver", attributes: VirtioOptions.attributes), .alias, .address])

        init(_ element: XMLElement) throws(DomainXMLError) {
            type = try Kind.requiredAttribute("type", of: element)
            bus = try Bus.optionalAttribute("bus", of: element)
            alias = DeviceCommon.alias(element)
            usbAddress = DeviceCommon.usbAddress(element)
            pciAddress = try PCIAddress(device: element)
            virtio = try VirtioOptions(element.element(named: "driver"))
        }
    }
}
