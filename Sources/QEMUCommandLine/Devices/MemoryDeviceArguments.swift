import CorralJSON
import DomainXML

extension Builder {
    /// libvirt's alias of memory device `index`: the user's, else DIMMs and NVDIMMs by their slot
    /// (`dimm2`), virtio devices by their place among those of their model (`virtiomem0`).
    func memoryDeviceAlias(_ index: Int) -> String {
        let devices = domain.devices.memoryDevices
        let device = devices[index]
        return device.alias ?? device.model.alias(slot: device.slot, number: devices[..<index].filter { $0.model == device.model }.count)
    }

    /// Memory devices, after the controllers as libvirt puts them: each a backend object
    /// (`memALIAS`) and its device.
    mutating func addMemoryDevices() throws(CommandLineError) {
        for index in domain.devices.memoryDevices.indices { try addMemoryDevice(at: index) }
    }

    /// Memory device `index`: its backend object and its device (also for hot-plugging it).
    mutating func addMemoryDevice(at index: Int) throws(CommandLineError) {
        let device = domain.devices.memoryDevices[index]
        let alias = memoryDeviceAlias(index)
        let memdev = "mem" + alias
        add("-object", json: try memoryDeviceBackend(device, id: memdev))
        var members: [(String, JSONValue)] = [("driver", .string(device.model.qemuDevice))]
        if let node = device.node { members.append(("node", .integer(Int64(node)))) }
        for (name, kib) in [("label-size", device.labelSizeKiB), ("block-size", device.blockSizeKiB), ("requested-size", device.requestedSizeKiB)] {
            if let kib, kib > 0 { members.append((name, .unsigned(try bytes(kib)))) }
        }
        if device.readonly { members.append(("unarmed", .bool(true))) }
        members.append(("memdev", .string(memdev)))
        // virtio-mem preallocates in the device (QEMU 7.1), not in its backend.
        if device.model == .virtioMEM && preallocates(device) { members.append(("prealloc", .bool(true))) }
        members.append(("id", .string(alias)))
        if device.model.takesSlot {
            if let slot = device.slot { members.append(("slot", .integer(Int64(slot)))) }
            if let base = device.base { members.append(("addr", .unsigned(base))) }
        } else {
            members += pciPlacement(device.pciAddress)
        }
        addDevice(members)
    }

    /// The backend of a memory device (libvirt's `qemuBuildMemoryBackendProps` for one): the
    /// given file of an NVDIMM or virtio-pmem device (preallocated unless it is real persistent
    /// memory), else memory chosen as for the guest's RAM, with the device's own page size and
    /// access. virtio-mem's memory is not reserved up front (`reserve`), as it is plugged in
    /// block by block.
    func memoryDeviceBackend(_ device: DomainDefinition.MemoryDevice, id: String) throws(CommandLineError) -> JSONValue {
        let size = try bytes(device.sizeKiB)
        guard let path = device.path, device.model == .nvdimm || device.model == .virtioPMEM else {
            var backend = try memoryBackend(
                id: id, bytes: size, node: device.node, access: device.access ?? domain.memoryBacking.access, pageSizeKiB: device.pageSizeKiB,
                sourceNodes: device.hostNodes)
            if device.model == .virtioMEM, case .object(var members) = backend {
                members.removeAll { $0.0 == "prealloc" }
                members.insert(("reserve", .bool(false)), at: members.firstIndex { $0.0 == "size" } ?? members.count)
                backend = .object(members)
            }
            return backend
        }
        var members: [(String, JSONValue)] = [("qom-type", .string("memory-backend-file")), ("id", .string(id)), ("mem-path", .string(path))]
        if let access = device.access { members.append(("share", .bool(access == .shared))) }
        if !device.persistentMemory { members.append(("prealloc", .bool(true))) }
        members.append(("size", .unsigned(size)))
        if let align = device.alignSizeKiB, align > 0 { members.append(("align", .unsigned(try bytes(align)))) }
        if device.persistentMemory { members.append(("pmem", .bool(true))) }
        return .object(members)
    }

    /// Whether the guest's memory settings preallocate a virtio-mem device's blocks.
    func preallocates(_ device: DomainDefinition.MemoryDevice) -> Bool {
        domain.memoryBacking.allocation == .immediate || (device.pageSizeKiB.map { $0 != context.hugePages.systemPageSizeKiB } ?? false)
            || domain.memoryBacking.hugePageSizeKiB(node: device.node) != nil
    }

    func bytes(_ kib: UInt64) throws(CommandLineError) -> UInt64 {
        let (value, overflow) = kib.multipliedReportingOverflow(by: 1024)
        guard !overflow else { throw CommandLineError(.unsupported, "a memory device is too large") }
        return value
    }
}
