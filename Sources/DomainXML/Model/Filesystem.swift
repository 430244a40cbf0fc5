import XMLTree

extension DomainDefinition {
    /// `<filesystem>`: a host directory the guest mounts (9p, or virtiofs).
    public struct Filesystem: Hashable, Sendable, ModelledElement {
        /// `<filesystem type>`; QEMU guests take `mount` only.
        public enum Kind: String, ModelledValue {
            case mount, block, file, template, ram, bind, volume
        }

        /// `<filesystem accessmode>`: how guest users map to host users (9p's security model).
        public enum AccessMode: String, ModelledValue {
            case passthrough, mapped, squash

            /// QEMU's `security_model`.
            public var securityModel: String {
                switch self {
                case .passthrough: "passthrough"
                case .mapped: "mapped"
                case .squash: "none"
                }
            }
        }

        /// `<driver type>`.
        public enum DriverType: String, ModelledValue {
            case path, handle, loop, nbd, ploop, virtiofs
        }

        /// `<driver wrpolicy>`.
        public enum WritePolicy: String, ModelledValue {
            case immediate
        }

        /// `<filesystem multidevs>`: what 9p does with several host devices under one export.
        public enum MultipleDevices: String, ModelledValue {
            case `default`, remap, forbid, warn
        }

        public var type: Kind
        public var accessMode: AccessMode
        public var driver: DriverType?
        public var writePolicy: WritePolicy?
        public var multipleDevices: MultipleDevices?
        /// `<source dir>`: the host directory.
        public var source: String
        /// `<target dir>`: the mount tag the guest mounts by.
        public var target: String
        public var readonly: Bool
        public var alias: String?
        public var pciAddress: PCIAddress?

        static let schema = ElementSchema("filesystem", attributes: ["type", "accessmode", "multidevs"], children: [
            ElementSchema("driver", attributes: ["type", "wrpolicy"]), ElementSchema("source", attributes: ["dir"]),
            ElementSchema("target", attributes: ["dir"]), .text("readonly"), .alias, .address,
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            type = try Kind.attribute("type", of: element, default: .mount)
            accessMode = try AccessMode.attribute("accessmode", of: element, default: .passthrough)
            multipleDevices = try MultipleDevices.optionalAttribute("multidevs", of: element)
            let driverElement = element.element(named: "driver")
            driver = try DriverType.optionalAttribute("type", of: driverElement)
            writePolicy = try WritePolicy.optionalAttribute("wrpolicy", of: driverElement)
            let source = element.element(named: "source").flatMap { $0[attribute: "dir"] ?? $0[attribute: "dev"] ?? $0[attribute: "file"] ?? $0[attribute: "name"] }
            let target = element.element(named: "target")?[attribute: "dir"]
            guard let source else { throw DomainXMLError(.invalid, line: element.line, "missing source information for device \(target ?? "")") }
            guard let target else { throw DomainXMLError(.invalid, line: element.line, "missing target information for device \(source)") }
            self.source = source
            self.target = target
            guard type == .mount else { throw DomainXMLError(.unsupported, line: element.line, "only supports mount filesystem type") }
            readonly = element.element(named: "readonly") != nil
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
        }
    }
}
