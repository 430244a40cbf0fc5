import XMLTree

extension DomainDefinition {
    /// `<memballoon>`.
    public struct MemoryBalloon: Hashable, Sendable, ModelledElement {
        /// `<memballoon model>`.
        public enum Model: String, ModelledValue {
            case virtio, xen, none, virtioTransitional = "virtio-transitional", virtioNonTransitional = "virtio-non-transitional"

            /// A virtio balloon (of any variant), the kind QEMU runs here.
            public var isVirtio: Bool { self == .virtio || self == .virtioTransitional || self == .virtioNonTransitional }
        }

        public var model: Model
        public var alias: String?
        /// `<address type='pci'>`, when given.
        public var pciAddress: PCIAddress?
        /// `autodeflate`: the guest gives ballooned memory back when it runs out (QEMU's `deflate-on-oom`).
        public var autodeflate: FeatureSwitch?
        /// `freePageReporting`: the guest reports free pages, which the host reclaims.
        public var freePageReporting: FeatureSwitch?
        /// `<stats period>`: seconds between the guest's memory statistics (0: none).
        public var statisticsPeriod: Int?
        /// `<driver iommu ats packed page_per_vq>`.
        public var virtio = VirtioOptions()

        static let schema = ElementSchema("memballoon", attributes: ["model", "autodeflate", "freePageReporting"], children: [
            .alias, .address, ElementSchema("stats", attributes: ["period"]), ElementSchema("driver", attributes: VirtioOptions.attributes),
        ])

        init(_ element: XMLElement) throws(DomainXMLError) {
            model = try Model.attribute("model", of: element, default: .virtio)
            autodeflate = try FeatureSwitch.optionalAttribute("autodeflate", of: element)
            freePageReporting = try FeatureSwitch.optionalAttribute("freePageReporting", of: element)
            if let stats = element.element(named: "stats") {
                guard let text = stats[attribute: "period"], let period = Int(text), (0...Int(Int32.max)).contains(period) else {
                    throw DomainXMLError(.invalid, line: stats.line, "invalid statistics collection period")
                }
                statisticsPeriod = period
            }
            virtio = try VirtioOptions(element.element(named: "driver"))
            alias = DeviceCommon.alias(element)
            pciAddress = try PCIAddress(device: element)
        }
    }
}
