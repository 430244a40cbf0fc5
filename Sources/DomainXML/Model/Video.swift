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
        /// `<acpi index>` (a PCI device's; QEMU's `acpi-index`).
        public var acpiIndex: UInt32?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?
        /// `<driver iommu ats packed page_per_vq>` (virtio cards only).
        public var virtio = VirtioOptions()
        /// `<model><acceleration accel3d>`: a virtio card with OpenGL (virgl) rendering, which
        /// needs an OpenGL display (SPICE with `<gl enable='yes'>`, or egl-headless).
        public var accelerated3D: Bool?
        /// `<acceleration rendernode>`: a vhost-user card's render node; libvirt refuses it on
        /// any other card, and Corral has no vhost-user cards.
        public var accelerationRenderNode: String?

        static let schema = ElementSchema("video", children: [
            ElementSchema("driver", attributes: VirtioOptions.attributes),
            ElementSchema("model", attributes: ["type", "vram", "ram", "vgamem", "vram64", "heads", "primary"], children: [
                ElementSchema("acceleration", attributes: ["accel3d", "accel2d", "rendernode"]),
            ]), .alias, .acpi, .address,
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
            acpiIndex = try DeviceCommon.acpiIndex(element)
            pciAddress = try PCIAddress(device: element)
            let driver = element.element(named: "driver")
            virtio = try VirtioOptions(driver)
            if self.model != .virtio { try virtio.checkAbsent(line: driver?.line) }
            if let acceleration = model?.element(named: "acceleration") {
                // libvirt's reading (virDomainVideoAccelDefParseXML) and the QEMU driver's checks.
                accelerated3D = try AttributeValues.yesNo("accel3d", of: acceleration)
                let accelerated2D = try AttributeValues.yesNo("accel2d", of: acceleration)
                accelerationRenderNode = acceleration[attribute: "rendernode"]
                if accelerated3D == nil && accelerated2D == nil && accelerationRenderNode == nil {
                    throw DomainXMLError(.unsupported, line: acceleration.line, "missing values for acceleration")
                }
                // A render node is for a vhost-user card's backend, which Corral does not model.
                if accelerationRenderNode != nil {
                    throw DomainXMLError(.unsupported, line: acceleration.line, "unsupported rendernode accel attribute without 'vhostuser'")
                }
                if accelerated2D == true { throw DomainXMLError(.unsupported, line: acceleration.line, "qemu does not support the accel2d setting") }
                if accelerated3D == true && self.model != .virtio {
                    throw DomainXMLError(.unsupported, line: acceleration.line, "3d acceleration is supported only with 'virtio' video device")
                }
            }
        }
    }
}
