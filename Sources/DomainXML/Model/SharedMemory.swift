import XMLTree

extension DomainDefinition {
    /// `<shmem name>`: host memory shared with the guest (and other guests) through an ivshmem
    /// PCI device, backed by `/dev/shm/NAME`.
    public struct SharedMemory: Hashable, Sendable, ModelledElement {
        /// `<model type>`.
        public enum Model: String, ModelledValue {
            case ivshmem, ivshmemPlain = "ivshmem-plain", ivshmemDoorbell = "ivshmem-doorbell"
        }

        public var name: String
        public var model: Model
        /// `<size>` in bytes (libvirt's default 4 MiB; a power of two).
        public var sizeBytes: UInt64
        public var alias: String?
        public var pciAddress: PCIAddress?

        /// The largest region (QEMU's ivshmem takes up to a 64-bit BAR; 1 TiB keeps sums safe).
        static let maximumBytes: UInt64 = 1 << 40

        static let schema = ElementSchema("shmem", attributes: ["name"], children: [
            ElementSchema("model", attributes: ["type"]), .text("size", attributes: ["unit"]), .alias, .address,
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            guard let name = element[attribute: "name"], !name.isEmpty else {
                throw DomainXMLError(.invalid, line: element.line, "shmem element must contain 'name' attribute")
            }
            guard !name.contains("/"), name != ".", name != ".." else {
                throw DomainXMLError(.invalid, line: element.line, "shmem name '\(name)' must not contain '/'")
            }
            self.name = name
            model = try Model.attribute("type", of: element.element(named: "model"), default: .ivshmemPlain)
            if let size = element.element(named: "size") {
                let kib = try DomainNormalizer.kibibytes(size, defaultUnit: "b")
                guard kib > 0, kib <= Self.maximumBytes / 1024, (kib * 1024).nonzeroBitCount == 1 else {
                    throw DomainXMLError(.invalid, line: size.line, "shmem size must be a power of two")
                }
                sizeBytes = kib * 1024
            } else {
                sizeBytes = 4 << 20
            }
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
        }
    }
}
