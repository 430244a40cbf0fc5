import XMLTree

extension DomainDefinition {
    /// `<pstore backend='acpi-erst'>`: persistent storage the guest kernel's pstore writes its
    /// last messages to (ACPI's Error Record Serialization Table), kept in a host file across
    /// boots (libvirt's `virDomainPstoreDef`, from libvirt 10; libvirt 9.0 has no such element).
    public struct Pstore: Hashable, Sendable, ModelledElement {
        /// `<pstore backend>`: the only backend is ACPI ERST.
        public enum Backend: String, ModelledValue {
            case acpiERST = "acpi-erst"
        }

        public var backend: Backend
        /// `<path>`: the host file that holds the records.
        public var path: String
        /// `<size>` in KiB.
        public var sizeKiB: UInt64
        public var alias: String?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?

        /// The largest store (QEMU maps it whole; 1 GiB keeps byte counts far from overflow).
        static let maximumKiB: UInt64 = 1 << 20

        /// The children in the order libvirt writes them.
        static let childOrder = ["path", "size", "alias", "address"]

        static let schema = ElementSchema("pstore", attributes: ["backend"], children: [
            .text("path"), .text("size", attributes: ["unit"]), .alias, .address,
        ])

        /// Reads `<pstore>`: the backend, an absolute path and a size are required.
        init(_ element: XMLElement) throws(DomainXMLError) {
            backend = try Backend.requiredAttribute("backend", of: element)
            guard let path = element.element(named: "path")?.text.trimmingWhitespace(), !path.isEmpty else {
                throw DomainXMLError(.invalid, line: element.line, "missing element 'path' of pstore")
            }
            guard path.hasPrefix("/") else { throw DomainXMLError(.invalid, line: element.line, "pstore path '\(path)' must be absolute") }
            self.path = path
            guard let size = element.element(named: "size") else { throw DomainXMLError(.invalid, line: element.line, "missing element 'size' of pstore") }
            let kib = try DomainNormalizer.kibibytes(size)
            guard kib > 0, kib <= Self.maximumKiB else {
                throw DomainXMLError(.invalid, line: size.line, "pstore size must be from 1 KiB to 1 GiB, not \(kib) KiB")
            }
            sizeKiB = kib
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
        }
    }
}
