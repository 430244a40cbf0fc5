import XMLTree

extension DomainDefinition {
    /// `<iommu model>`: the guest's IOMMU (Intel VT-d, or virtio-iommu on a PCI slot, on q35),
    /// with its `<driver>` options.
    public struct IOMMU: Hashable, Sendable, ModelledElement {
        /// `<iommu model>`.
        public enum Model: String, ModelledValue {
            case intel, smmuv3, virtio
        }

        public var model: Model
        /// `<driver intremap>`, `eim`: interrupt remapping and its extended mode.
        public var interruptRemapping: FeatureSwitch?
        public var extendedInterruptMode: FeatureSwitch?
        /// `<driver caching_mode>`, `iotlb`: what device assignment and ATS need.
        public var cachingMode: FeatureSwitch?
        public var deviceIOTLB: FeatureSwitch?
        /// `<driver aw_bits>`: the address width (39 or 48).
        public var addressWidth: Int?
        public var alias: String?
        /// A virtio IOMMU's PCI address.
        public var pciAddress: PCIAddress?
        /// The `<address type>` given, when it is not a PCI one.
        public var otherAddressType: String?

        static let schema = ElementSchema("iommu", attributes: ["model"], children: [
            ElementSchema("driver", attributes: ["intremap", "caching_mode", "eim", "iotlb", "aw_bits"]), .alias, .address,
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            model = try Model.requiredAttribute("model", of: element)
            let driver = element.element(named: "driver")
            interruptRemapping = try FeatureSwitch.optionalAttribute("intremap", of: driver)
            cachingMode = try FeatureSwitch.optionalAttribute("caching_mode", of: driver)
            extendedInterruptMode = try FeatureSwitch.optionalAttribute("eim", of: driver)
            deviceIOTLB = try FeatureSwitch.optionalAttribute("iotlb", of: driver)
            if let text = driver?[attribute: "aw_bits"] {
                guard let bits = Int(text), bits == 39 || bits == 48 else {
                    throw DomainXMLError(.unsupported, line: driver?.line, "iommu: aw_bits must be 39 or 48, not '\(text)'")
                }
                addressWidth = bits
            }
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
            if let type = element.element(named: "address")?[attribute: "type"], type != "pci" { otherAddressType = type }
        }
    }
}
