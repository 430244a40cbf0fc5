import XMLTree

extension DomainDefinition {
    /// `<crypto model='virtio' type='qemu'>`: a virtio-crypto device whose operations a QEMU
    /// cryptodev backend carries out (libvirt's `virDomainCryptoDef`, from libvirt 9.1; libvirt
    /// 9.0 has no such element).
    public struct Crypto: Hashable, Sendable, ModelledElement {
        /// `<crypto model>`: the only model is virtio.
        public enum Model: String, ModelledValue {
            case virtio
        }

        /// `<crypto type>`: the only type is QEMU's own cryptodev.
        public enum Kind: String, ModelledValue {
            case qemu
        }

        /// `<backend model>`: QEMU's cipher library (`builtin`) or the host kernel's crypto
        /// through its key retention service (`lkcf`).
        public enum Backend: String, ModelledValue {
            case builtin, lkcf

            /// The QEMU object type that implements the backend.
            public var objectType: String {
                switch self {
                case .builtin: "cryptodev-backend-builtin"
                case .lkcf: "cryptodev-backend-lkcf"
                }
            }
        }

        public var model: Model
        public var kind: Kind
        public var backend: Backend
        /// `<backend queues>`: the backend's queues; `nil` leaves QEMU's default (one).
        public var queues: UInt32?
        public var alias: String?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?
        /// `<driver iommu ats packed page_per_vq>`.
        public var virtio = VirtioOptions()

        /// The children in the order libvirt writes them.
        static let childOrder = ["backend", "driver", "alias", "address"]

        static let schema = ElementSchema("crypto", attributes: ["model", "type"], children: [
            ElementSchema("backend", attributes: ["model", "queues"]), .alias, .address, ElementSchema("driver", attributes: VirtioOptions.attributes),
        ])

        /// Reads `<crypto>` with libvirt's checks: the model, the type and one backend with its
        /// model are required; queues, when given, are a positive number.
        init(_ element: XMLElement) throws(DomainXMLError) {
            model = try Model.requiredAttribute("model", of: element)
            kind = try Kind.requiredAttribute("type", of: element)
            let backends = element.elements(named: "backend")
            guard backends.count == 1 else { throw DomainXMLError(.invalid, line: element.line, "only one crypto backend is supported") }
            backend = try Backend.requiredAttribute("model", of: backends[0])
            if let text = backends[0][attribute: "queues"] {
                guard let value = AttributeValues.libvirtUInt32(text), value > 0 else {
                    throw DomainXMLError(
                        .invalid, line: backends[0].line, "Invalid value for attribute 'queues' in element 'backend': '\(text)'. Expected non-zero value")
                }
                queues = value
            }
            virtio = try VirtioOptions(element.element(named: "driver"))
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
        }
    }
}
