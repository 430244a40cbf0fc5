extension DefinitionChecks {
    /// The size of a transparent huge page on x86, the smallest virtio-mem block libvirt allows.
    static let transparentHugePageKiB: UInt64 = 2048

    /// libvirt's checks of memory devices and memory hotplug, in its order and with its
    /// messages: each device (`virDomainMemoryDefValidate`), then the domain's room for them
    /// (`qemuDomainDefValidateMemoryHotplug`).
    static func checkMemoryDevices(_ definition: DomainDefinition) throws(DomainXMLError) {
        let nodeCount = definition.cpu?.numaCells.count ?? 0
        for device in definition.devices.memoryDevices { try check(device, nodeCount: nodeCount) }
        let devices = definition.devices.memoryDevices
        guard definition.hasMemoryHotplug else {
            if !devices.isEmpty {
                throw DomainXMLError(.unsupported, "cannot use/hotplug a memory device when domain 'maxMemory' is not defined")
            }
            return
        }
        // QEMU would enable one NUMA node by itself; libvirt wants it said.
        if nodeCount == 0 { throw DomainXMLError(.unsupported, "At least one numa node has to be configured when enabling memory hotplug") }
        let slots = definition.memorySlots ?? 0
        if devices.count > slots { throw DomainXMLError(.unsupported, "memory device count '\(devices.count)' exceeds slots count '\(slots)'") }
        var takenSlots: Set<Int> = []
        var total: UInt64 = 0
        for device in devices {
            total &+= device.sizeKiB
            if device.model.takesSlot {
                if device.pciAddress != nil { throw DomainXMLError(.unsupported, "only 'dimm' addresses are supported for the pc-dimm device") }
                if let slot = device.slot {
                    if slot >= slots { throw DomainXMLError(.unsupported, "memory device slot '\(slot)' exceeds slots count '\(slots)'") }
                    if !takenSlots.insert(slot).inserted {
                        throw DomainXMLError(.unsupported, "memory device slot '\(slot)' is already being used by another memory device")
                    }
                }
            } else if device.slot != nil {
                throw DomainXMLError(.unsupported, "only 'pci' addresses are supported for the \(device.model.rawValue) device")
            }
            if device.model != .virtioPMEM && device.node == nil {
                throw DomainXMLError(.unsupported, "target NUMA node needs to be specified for memory device")
            }
        }
        let space = (definition.maxMemoryKiB ?? 0) &- min(definition.maxMemoryKiB ?? 0, definition.initialMemoryKiB)
        if total > space { throw DomainXMLError(.unsupported, "memory device total size exceeds hotplug space") }
    }

    static func check(_ device: DomainDefinition.MemoryDevice, nodeCount: Int) throws(DomainXMLError) {
        if let node = device.node {
            if nodeCount == 0 { throw DomainXMLError(.invalid, "can't add memory backend as guest has no NUMA nodes configured") }
            if node >= nodeCount {
                throw DomainXMLError(.invalid, "can't add memory backend for guest node '\(node)' as the guest has only '\(nodeCount)' NUMA nodes configured")
            }
        }
        switch device.model {
        case .nvdimm:
            if device.path == nil { throw DomainXMLError(.invalid, "path is required for model 'nvdimm'") }
            if device.discard == true { throw DomainXMLError(.unsupported, "discard is not supported for nvdimms") }
        case .virtioPMEM:
            if device.path == nil { throw DomainXMLError(.invalid, "path is required for model 'virtio-pmem'") }
            if device.discard == true { throw DomainXMLError(.unsupported, "discard is not supported for model 'virtio-pmem'") }
            if device.access != .shared { throw DomainXMLError(.unsupported, "shared access mode required for virtio-pmem device") }
            if device.node != nil { throw DomainXMLError(.unsupported, "virtio-pmem does not support NUMA nodes") }
        case .virtioMEM:
            let block = device.blockSizeKiB ?? 0, requested = device.requestedSizeKiB ?? 0
            if requested > device.sizeKiB {
                throw DomainXMLError(.unsupported, "requested size must be smaller than or equal to @size (\(device.sizeKiB)KiB)")
            }
            if block == 0 || block & (block - 1) != 0 { throw DomainXMLError(.unsupported, "block size must be a power of two") }
            if block < transparentHugePageKiB {
                throw DomainXMLError(.unsupported, "block size too small, must be at least \(transparentHugePageKiB)KiB")
            }
            if requested % block != 0 { throw DomainXMLError(.unsupported, "requested size must be an integer multiple of block size") }
        case .dimm:
            break
        case .sgxEPC:
            throw DomainXMLError(.unsupported, "sgx epc isn't supported by this QEMU binary")
        }
    }
}
