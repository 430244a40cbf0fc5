import XMLTree

extension DomainDefinition {
    /// The options every virtio device's `<driver>` may carry (libvirt's
    /// `virDomainVirtioOptions`): the platform IOMMU, address translation services, packed
    /// virtqueues and a page per virtqueue, each on, off or QEMU's default (`nil`).
    public struct VirtioOptions: Hashable, Sendable {
        /// `iommu`: the device's DMA goes through the platform IOMMU (QEMU's `iommu_platform`).
        public var iommu: Bool?
        /// `ats`: PCIe address translation services.
        public var ats: Bool?
        /// `packed`: packed virtqueues instead of split ones.
        public var packed: Bool?
        /// `page_per_vq`: one page of notification space per virtqueue (QEMU's `page-per-vq`).
        public var pagePerVirtqueue: Bool?

        /// The attributes, in libvirt's order.
        public static let attributes = ["iommu", "ats", "packed", "page_per_vq"]

        /// No option is set.
        public init() {}

        /// Reads the options of `driver` (libvirt's `virDomainVirtioOptionsParseXML`).
        init(_ driver: XMLElement?) throws(DomainXMLError) {
            guard let driver else { return }
            iommu = try Self.onOff("iommu", of: driver)
            ats = try Self.onOff("ats", of: driver)
            packed = try Self.onOff("packed", of: driver)
            pagePerVirtqueue = try Self.onOff("page_per_vq", of: driver)
        }

        /// Whether no option is set.
        public var isEmpty: Bool { self == VirtioOptions() }

        /// QEMU's device properties for the options, in libvirt's order
        /// (`qemuBuildVirtioDevProps`: right after the device's driver).
        public var properties: [(name: String, on: Bool)] {
            [("iommu_platform", iommu), ("ats", ats), ("packed", packed), ("page-per-vq", pagePerVirtqueue)].compactMap { name, on in on.map { (name, $0) } }
        }

        /// libvirt's refusal of the options on a device that is not virtio
        /// (`virDomainCheckVirtioOptionsAreAbsent`).
        func checkAbsent(line: Int?) throws(DomainXMLError) {
            for (attribute, value) in [("iommu", iommu), ("ats", ats), ("packed", packed), ("page_per_vq", pagePerVirtqueue)] where value != nil {
                throw DomainXMLError(.unsupported, line: line, "\(attribute) driver option is only supported for virtio devices")
            }
        }

        /// A tristate switch attribute (libvirt's `virXMLPropTristateSwitch`).
        static func onOff(_ attribute: String, of element: XMLElement) throws(DomainXMLError) -> Bool? {
            try AttributeValues.onOff(attribute, of: element)
        }
    }
}
