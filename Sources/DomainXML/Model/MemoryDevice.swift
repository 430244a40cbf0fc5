import XMLTree

extension DomainDefinition {
    /// `<memory model>` in `<devices>`: memory beyond the guest's initial RAM, as a DIMM, an
    /// NVDIMM, a virtio-mem or a virtio-pmem device (libvirt's `virDomainMemoryDef`). Sizes are
    /// in KiB, as the normaliser leaves them.
    public struct MemoryDevice: Hashable, Sendable, ModelledElement {
        /// `<memory model>`.
        public enum Model: String, ModelledValue {
            case dimm, nvdimm, virtioPMEM = "virtio-pmem", virtioMEM = "virtio-mem", sgxEPC = "sgx-epc"

            /// The QEMU device.
            public var qemuDevice: String {
                switch self {
                case .dimm: "pc-dimm"
                case .nvdimm: "nvdimm"
                case .virtioPMEM: "virtio-pmem-pci"
                case .virtioMEM: "virtio-mem-pci"
                case .sgxEPC: "sgx-epc"
                }
            }

            /// The stem of libvirt's alias (`dimm0`, `virtiomem1`).
            public var aliasStem: String { String(rawValue.filter { $0 != "-" }) }

            /// Whether the device sits in a DIMM slot (the others are PCI devices).
            public var takesSlot: Bool { self == .dimm || self == .nvdimm }

            /// libvirt's alias of a device of this model: a DIMM or NVDIMM by its slot (`dimm4`),
            /// else by `number`, its place among the devices of its model (`virtiomem0`).
            public func alias(slot: Int?, number: Int) -> String { aliasStem + String(takesSlot ? slot ?? number : number) }
        }

        public var model: Model
        /// `<memory access>`.
        public var access: MemoryBacking.Access?
        /// `<memory discard>` (yes/no; absent: the domain's).
        public var discard: Bool?
        /// `<source><pagesize>` in KiB.
        public var pageSizeKiB: UInt64?
        /// `<source><nodemask>`: host NUMA nodes to take the memory from.
        public var hostNodes: String?
        /// `<source><path>`: the file backing an NVDIMM or a virtio-pmem device.
        public var path: String?
        /// `<source><alignsize>` in KiB (NVDIMM).
        public var alignSizeKiB: UInt64?
        /// `<source><pmem/>`: the NVDIMM's file is real persistent memory.
        public var persistentMemory: Bool
        /// `<target><size>` in KiB.
        public var sizeKiB: UInt64
        /// `<target><node>`: the guest NUMA node.
        public var node: Int?
        /// `<target><label><size>` in KiB (NVDIMM).
        public var labelSizeKiB: UInt64?
        /// `<target><readonly/>` (NVDIMM).
        public var readonly: Bool
        /// `<target><block>` and `<target><requested>` in KiB (virtio-mem).
        public var blockSizeKiB: UInt64?
        public var requestedSizeKiB: UInt64?
        public var alias: String?
        /// `<address type='dimm' slot base>`.
        public var slot: Int?
        public var base: UInt64?
        public var pciAddress: PCIAddress?

        static let schema = ElementSchema("memory", attributes: ["model", "access", "discard"], children: [
            ElementSchema("source", children: [
                .text("pagesize", attributes: ["unit"]), .text("nodemask"), .text("path"), .text("alignsize", attributes: ["unit"]), .text("pmem"),
            ]),
            ElementSchema("target", children: [
                .text("size", attributes: ["unit"]), .text("node"), ElementSchema("label", children: [.text("size", attributes: ["unit"])]),
                .text("readonly"), .text("block", attributes: ["unit"]), .text("requested", attributes: ["unit"]), .text("current", attributes: ["unit"]),
            ]),
            .alias, .address,
        ])

        /// Reads a normalised `<memory>` device.
        init(_ element: XMLElement) throws(DomainXMLError) {
            model = try Model.requiredAttribute("model", of: element)
            access = try MemoryBacking.Access.optionalAttribute("access", of: element)
            if let text = element[attribute: "discard"] {
                guard text == "yes" || text == "no" else {
                    throw DomainXMLError(.invalid, line: element.line, "Invalid value for attribute 'discard' in element 'memory': '\(text)'.")
                }
                discard = text == "yes"
            }
            let source = element.element(named: "source")
            func kib(_ element: XMLElement?) -> UInt64? { element.flatMap { UInt64($0.text.trimmingWhitespace()) } }
            pageSizeKiB = kib(source?.element(named: "pagesize"))
            hostNodes = source?.element(named: "nodemask")?.text.trimmingWhitespace()
            path = source?.element(named: "path")?.text.trimmingWhitespace()
            alignSizeKiB = kib(source?.element(named: "alignsize"))
            persistentMemory = source?.element(named: "pmem") != nil
            guard let target = element.element(named: "target") else {
                throw DomainXMLError(.invalid, line: element.line, "missing <target> element for <memory> device")
            }
            sizeKiB = kib(target.element(named: "size")) ?? 0
            node = target.element(named: "node").flatMap { Int($0.text.trimmingWhitespace()) }
            labelSizeKiB = kib(target.element(named: "label")?.element(named: "size"))
            readonly = target.element(named: "readonly") != nil
            blockSizeKiB = kib(target.element(named: "block"))
            requestedSizeKiB = kib(target.element(named: "requested"))
            alias = DeviceCommon.alias(element)
            if let address = element.element(named: "address"), address[attribute: "type"] == "dimm" {
                slot = address[attribute: "slot"].flatMap { Int($0) }
                base = address[attribute: "base"].flatMap { DeviceCommon.unsigned($0) }
            }
            pciAddress = try PCIAddress(device: element)
        }
    }
}
