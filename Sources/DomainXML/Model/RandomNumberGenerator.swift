import XMLTree

extension DomainDefinition {
    /// `<rng>`.
    public struct RandomNumberGenerator: Hashable, Sendable, ModelledElement {
        /// `<rng model>`: one of the virtio models.
        public typealias Model = VirtioModel

        /// `<backend model>`.
        public enum Backend: String, ModelledValue {
            case random, egd, builtin
        }

        public var model: Model
        public var backendModel: Backend
        public var backendPath: String?
        /// An EGD backend's host side (`<backend model='egd' type>` with its `<source>` and
        /// `<protocol>`): a character device.
        public var egdSource: CharacterDevice?
        /// `<rate bytes>`: the most the guest reads per period; `nil`: no limit.
        public var rateBytes: UInt32?
        /// `<rate period>` in milliseconds (QEMU's default period, 1000, when unset).
        public var ratePeriod: UInt32?
        public var alias: String?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?
        /// `<driver iommu ats packed page_per_vq>`.
        public var virtio = VirtioOptions()

        static let schema = ElementSchema("rng", attributes: ["model"], children: [
            ElementSchema("rate", attributes: ["bytes", "period"]),
            ElementSchema("backend", attributes: ["model", "type"], children: [
                ElementSchema("source", attributes: ["path", "mode", "host", "service"]), CharacterDevice.protocolSchema,
            ]),
            .alias, .address, ElementSchema("driver", attributes: VirtioOptions.attributes),
        ])

        /// `<rate>`'s `bytes` and `period` as libvirt reads them: absent or empty is unset (0),
        /// anything but an unsigned 32-bit number an error; a period is read only with a rate.
        static func rate(_ element: XMLElement?) throws(DomainXMLError) -> (bytes: UInt32, period: UInt32) {
            guard let element else { return (0, 0) }
            func read(_ name: String, _ message: String) throws(DomainXMLError) -> UInt32 {
                guard let text = element[attribute: name], !text.isEmpty else { return 0 }
                guard let value = AttributeValues.libvirtUInt32(text) else { throw DomainXMLError(.invalid, line: element.line, message) }
                return value
            }
            let bytes = try read("bytes", "invalid RNG rate bytes value")
            return (bytes, bytes > 0 ? try read("period", "invalid RNG rate period value") : 0)
        }

        init(_ element: XMLElement) throws(DomainXMLError) {
            let backend = element.element(named: "backend")
            model = try Model.attribute("model", of: element, default: .virtio)
            backendModel = try Backend.attribute("model", of: backend, default: .random)
            backendPath = backend?.text.isEmpty == false ? backend?.text : nil
            if backendModel == .egd, let backend {
                guard let type = backend[attribute: "type"] else { throw DomainXMLError(.invalid, line: backend.line, "missing EGD backend type") }
                guard CharacterDevice.Kind(rawValue: type) != nil else {
                    throw DomainXMLError(.unsupported, line: backend.line, "unknown backend type '\(type)' for egd")
                }
                egdSource = try CharacterDevice(backend)
            }
            let (bytes, period) = try Self.rate(element.element(named: "rate"))
            rateBytes = bytes > 0 ? bytes : nil
            ratePeriod = period > 0 ? period : nil
            virtio = try VirtioOptions(element.element(named: "driver"))
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
        }
    }
}
