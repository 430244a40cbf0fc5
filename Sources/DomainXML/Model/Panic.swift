import XMLTree

extension DomainDefinition {
    /// `<panic>`: a device the guest kernel signals a crash through, which `on_crash` acts on.
    public struct Panic: Hashable, Sendable, ModelledElement {
        /// `<panic model>`.
        public enum Model: String, ModelledValue {
            case isa, pseries, hyperv, s390, pvpanic
        }

        public var model: Model
        /// `<address type='isa' iobase>` of an ISA panic device.
        public var ioPort: UInt16?
        /// The PCI address of a `pvpanic` device (`pvpanic-pci`), given or assigned at define.
        public var pciAddress: PCIAddress?

        static let schema = ElementSchema("panic", attributes: ["model"], children: [.alias, .address])

        init(_ element: XMLElement) throws(DomainXMLError) {
            model = try Model.attribute("model", of: element, default: .isa)
            if let address = try ISAAddress(device: element), address.ioBase != 0 {
                guard let port = UInt16(exactly: address.ioBase) else {
                    throw DomainXMLError(.invalid, "ISA I/O port 0x\(String(address.ioBase, radix: 16)) of a panic device is past 0xffff")
                }
                ioPort = port
            }
            if model == .pvpanic { pciAddress = try PCIAddress(device: element) }
        }
    }
}
