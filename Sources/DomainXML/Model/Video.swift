import XMLTree

extension DomainDefinition {
    /// `<video>`.
    public struct Video: Hashable, Sendable, ModelledElement {
        /// `<model type>`.
        public enum Model: String, ModelledValue {
            case vga, cirrus, vmvga, xen, vbox, qxl, parallels, virtio, gop, none, bochs, ramfb
        }

        public var model: Model
        /// `vram` in KiB (written at define with libvirt's default for the model).
        public var vram: Int?
        /// QXL's `ram` and `vgamem` in KiB, and its 64-bit `vram64` in KiB.
        public var ram: Int?
        public var vgamem: Int?
        public var vram64: Int?
        public var heads: Int?
        public var alias: String?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?
        /// `<driver iommu ats packed page_per_vq>` (virtio cards only).
        public var virtio = VirtioOptions()

        static let schema = ElementSchema("video", children: [
            ElementSchema("driver", attributes: VirtioOptions.attributes),
            ElementSchema("model", attributes: ["type", "vram", "ram", "vgamem", "vram64", "heads", "primary"]), .alias, .address,
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            let model = element.element(named: "model")
            self.model = try Model.attribute("type", of: model, default: .vga)
            // Memory sizes reach QEMU in bytes: bounded to 1 TiB so the product cannot overflow.
            func size(_ name: String) throws(DomainXMLError) -> Int? {
                guard let text = model?[attribute: name] else { return nil }
                guard let value = Int(text), (0...(1 << 30)).contains(value) else {
                    throw DomainXMLError(.invalid, line: model?.line, "cannot parse video \(name) '\(text)'")
                }
                return value
            }
            vram = try size("vram")
            ram = try size("ram")
            vgamem = try size("vgamem")
            vram64 = try size("vram64")
            heads = try size("heads")
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
            let driver = element.element(named: "driver")
            virtio = try VirtioOptions(driver)
            if self.model != .virtio { try virtio.checkAbsent(line: driver?.line) }
        }
    }
}
