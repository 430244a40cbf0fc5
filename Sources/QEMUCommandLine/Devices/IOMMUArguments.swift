import CorralJSON
import DomainXML

extension Builder {
    /// The guest's IOMMU (`iommu0`), before the controllers, as libvirt gives it: Intel VT-d
    /// with its options.
    mutating func addIOMMU() throws(CommandLineError) {
        guard let iommu = domain.devices.iommu else { return }
        let alias = iommu.alias ?? "iommu0"
        switch iommu.model {
        case .intel:
            // The machine, split IRQ chip and eim requirements are DefinitionChecks'.
            var properties: [(String, JSONValue)] = [("driver", .string("intel-iommu")), ("id", .string(alias))]
            if let value = iommu.interruptRemapping { properties.append(("intremap", .string(value.rawValue))) }
            if let value = iommu.cachingMode { properties.append(("caching-mode", .bool(value == .on))) }
            if let value = iommu.extendedInterruptMode { properties.append(("eim", .string(value.rawValue))) }
            if let value = iommu.deviceIOTLB { properties.append(("device-iotlb", .bool(value == .on))) }
            if let bits = iommu.addressWidth { properties.append(("aw-bits", .integer(Int64(bits)))) }
            addDevice(properties)
        case .virtio:
            // On the root complex or a root port, where the address assignment put it (libvirt's
            // `virtio-iommu`, the PCI device's alias).
            addDevice([("driver", .string("virtio-iommu")), ("id", .string(alias))] + pciPlacement(iommu.pciAddress))
        case .smmuv3:
            throw CommandLineError(.unsupported, "IOMMU model '\(iommu.model.rawValue)' is not supported (only intel and virtio)")
        }
    }
}
