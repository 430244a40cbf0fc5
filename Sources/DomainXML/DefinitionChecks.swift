/// The checks libvirt makes of a definition when it is defined (its validation), with libvirt's
/// messages: define refuses a definition that fails one, and so does start, for a definition
/// stored before a check existed (``DomainXMLOptions/checksNewDefinitions``).
public enum DefinitionChecks {
    /// Throws the first check `definition` fails; `spiceTLS`: whether SPICE may use TLS
    /// (``DomainXMLOptions/spiceTLS``).
    public static func check(_ definition: DomainDefinition, spiceTLS: Bool = false) throws(DomainXMLError) {
        if let topology = definition.cpu?.topology {
            var product = 1
            var overflow = false
            for factor in [topology.sockets, topology.dies, topology.cores, topology.threads] {
                let (next, overflowed) = product.multipliedReportingOverflow(by: factor)
                product = next
                overflow = overflow || overflowed
            }
            guard !overflow, product == definition.vcpus else {
                throw DomainXMLError(.unsupported, "CPU topology doesn't match maximum vcpu count")
            }
        }
        if let address = definition.cpu?.maxPhysicalAddress {
            // The QEMU driver's checks (qemuValidateDomainDefCpu).
            switch address.mode {
            case .passthrough where address.bits != nil:
                throw DomainXMLError(.unsupported, "CPU maximum physical address bits number specification cannot be used with mode='passthrough'")
            case .emulate where address.bits == nil:
                throw DomainXMLError(.unsupported, "if using CPU maximum physical address mode='emulate', bits= must be specified too")
            default: break
            }
        }
        if let tune = definition.numaTune, !tune.cellNodes.isEmpty {
            // libvirt's checks of <memnode> against the guest's cells.
            let cells = definition.cpu?.numaCells.count ?? 0
            if cells == 0 { throw DomainXMLError(.invalid, "Element 'memnode' is invalid without any guest NUMA cells") }
            if tune.cellNodes.keys.contains(where: { $0 >= cells }) {
                throw DomainXMLError(.invalid, "Argument 'cellid' in memnode element must correspond to existing guest's NUMA cell")
            }
        }
        for timer in definition.timers {
            switch timer.name {
            case .platform: throw DomainXMLError(.unsupported, "unsupported timer type (name) 'platform'")
            case .rtc where timer.tickpolicy == .merge || timer.tickpolicy == .discard:
                throw DomainXMLError(.unsupported, "unsupported rtc timer tickpolicy '\(timer.tickpolicy?.rawValue ?? "")'")
            default: break
            }
        }
        if let cache = definition.features.translationBlockCacheKiB, cache % 1024 != 0 {
            throw DomainXMLError(.unsupported, "tb-cache size must be an integer multiple of MiB")
        }
        if definition.onReboot == .destroy && definition.onPoweroff == .restart {
            throw DomainXMLError(.unsupported, "qemu driver doesn't support 'onReboot' set to 'destroy and 'onPoweroff' set to 'reboot'")
        }
        let os = definition.os
        if (os.firmware == .efi || os.loader?.type == .pflash) && !definition.features.acpi {
            throw DomainXMLError(.unsupported, "UEFI requires ACPI on this architecture")
        }
        if os.biosUseSerial == true && definition.devices.serials.isEmpty {
            throw DomainXMLError(.invalid, "need at least one serial port to use BIOS serial output")
        }
        if os.loader?.secure == true && definition.features.smm == .off {
            throw DomainXMLError(.unsupported, "Secure boot requires SMM feature enabled")
        }
        try checkStateless(os)
        try checkNVRAMType(os)
        try checkVirtioModels(definition)
        for tpm in definition.devices.tpms where !tpm.activePCRBanks.isEmpty && tpm.version != .v2_0 {
            throw DomainXMLError(.invalid, "<active_pcr_banks/> requires TPM version '2.0'")
        }
        for disk in definition.devices.disks {
            if disk.source == nil && (disk.type == .file || disk.type == .block) && disk.device != .cdrom && disk.device != .floppy {
                throw DomainXMLError(.invalid, "missing source information for device \(disk.targetDevice)")
            }
            if disk.ioThread != nil && disk.targetBus != .virtio {
                throw DomainXMLError(.unsupported, "IOThreads not available for bus \(disk.targetBus.rawValue) target \(disk.targetDevice)")
            }
            try checkTransient(disk, definition)
            try checkVhostUser(disk, of: definition)
            try checkVirtioOnlySettings(disk)
            try checkCopyOnReadAndMetadataCache(disk)
            if disk.acpiIndex != nil && disk.targetBus != .virtio {
                throw DomainXMLError(.unsupported, "ACPI index is only supported for PCI devices")
            }
            try checkStartupPolicy(disk)
            if disk.trayOpen && disk.device != .cdrom && disk.device != .floppy {
                throw DomainXMLError(.unsupported, "tray is only valid for cdrom and floppy")
            }
            if disk.removable != nil && disk.targetBus != .usb {
                throw DomainXMLError(.unsupported, "removable is only valid for usb disks")
            }
        }
        try checkPCIControllers(definition)
        for controller in definition.devices.controllers where controller.pciHole64KiB != nil {
            // qemuValidateDomainDeviceDefControllerPCI: the window belongs to the chipset's host bridge.
            let machine = definition.os.machine ?? ""
            guard X86Chipset(machine: machine) == (controller.model == "pcie-root" ? .q35 : .i440fx) else {
                throw DomainXMLError(.unsupported, "Setting the 64-bit PCI hole size is not supported for machine '\(machine)'")
            }
        }
        for video in definition.devices.videos where video.model == .ramfb && video.pciAddress != nil {
            throw DomainXMLError(.unsupported, "'address' is not supported for 'ramfb' video devices")
        }
        for controller in definition.devices.controllers {
            if controller.type == .scsi && controller.isVirtio {
                if let thread = controller.driver.ioThread, !definition.ioThreadIDs.contains(Int(thread)) {
                    throw DomainXMLError(.unsupported, "controller iothread '\(thread)' not defined in iothreadid")
                }
            } else {
                try controller.driver.checkVirtioSCSIOnly()
            }
        }
        for server in definition.devices.graphics where server.type == .spice && !spiceTLS {
            if let port = server.spice.tlsPort, port > 0 {
                throw DomainXMLError(.unsupported, "spice TLS port set in XML configuration, but TLS is disabled in qemu.conf")
            }
        }
        try checkCharacterDeviceSources(definition)
        try checkMediatedDevices(definition)
        for filesystem in definition.devices.filesystems { try check(filesystem, of: definition) }
        try checkMemoryDevices(definition)
        try checkMemoryBacking(definition)
        if let iommu = definition.devices.iommu, iommu.model == .smmuv3 {
            throw DomainXMLError(.unsupported, "IOMMU device: 'smmuv3' is only supported with ARM Virt machines")
        }
        if let iommu = definition.devices.iommu, iommu.model == .virtio {
            guard (definition.os.machine ?? "").contains("q35") else {
                throw DomainXMLError(.unsupported, "IOMMU device: 'virtio' is only supported with Q35 and ARM Virt machines")
            }
            guard definition.features.acpi else { throw DomainXMLError(.unsupported, "IOMMU device: 'virtio' requires ACPI") }
            guard iommu.otherAddressType == nil else { throw DomainXMLError(.unsupported, "IOMMU device: 'virtio' needs a PCI address") }
        }
        if let iommu = definition.devices.iommu, iommu.model == .intel {
            guard (definition.os.machine ?? "").contains("q35") else {
                throw DomainXMLError(.unsupported, "IOMMU device: 'intel' is only supported with Q35 machines")
            }
            if iommu.interruptRemapping == .on && definition.features.ioapic != .qemu {
                throw DomainXMLError(.unsupported, "IOMMU interrupt remapping requires split I/O APIC (ioapic driver='qemu')")
            }
            if iommu.extendedInterruptMode == .on && iommu.interruptRemapping != .on {
                throw DomainXMLError(.unsupported, "iommu: eim requires interrupt remapping to be enabled")
            }
        }
        for tpm in definition.devices.tpms {
            if tpm.model == .spapr || tpm.model == .spaprProxy {
                throw DomainXMLError(.unsupported, "The QEMU executable \(definition.devices.emulator ?? "") does not support TPM model \(tpm.model.rawValue)")
            }
            if tpm.backend == .emulator && tpm.version == .v1_2 && tpm.model == .crb {
                throw DomainXMLError(.unsupported, "Unsupported interface '\(tpm.model.rawValue)' for TPM 1.2")
            }
        }
    }

    /// Whether every part of the guest's memory is shared (vhost-user devices and virtiofs
    /// need it): `<access mode='shared'>`, or each NUMA cell's own access.
    /// libvirt's checks of a `<transient/>` disk: an image file that the guest writes, of a
    /// disk device; with a shared backing image, a disk that can be plugged in after start and a
    /// guest whose reboot is a reset (libvirt plugs the disk in, then resets).
    static func checkTransient(_ disk: DomainDefinition.Disk, _ definition: DomainDefinition) throws(DomainXMLError) {
        guard disk.transient else { return }
        let target = disk.targetDevice
        if !disk.hasMedium { throw DomainXMLError(.unsupported, "transient disk '\(target)' must not be empty") }
        if disk.readonly { throw DomainXMLError(.unsupported, "transient disk '\(target)' must not be read-only") }
        if disk.type != .file { throw DomainXMLError(.unsupported, "transient disk supported only with 'file' type (\(target))") }
        if disk.device != .disk { throw DomainXMLError(.unsupported, "transient disk supported only with 'disk' device (\(target))") }
        if disk.transientSharesBacking && ![.virtio, .scsi, .usb].contains(disk.targetBus) {
            throw DomainXMLError(.unsupported, "disk bus '\(disk.targetBus.rawValue)' doesn't support transient disks with shared backing image")
        }
    }

    static func hasSharedMemory(_ definition: DomainDefinition) -> Bool {
        let cells = definition.cpu?.numaCells ?? []
        guard !cells.isEmpty else { return definition.memoryBacking.access == .shared }
        return cells.allSatisfy { cell in
            switch cell.memoryAccess {
            case .shared?: true
            case .private?: false
            case nil: definition.memoryBacking.access == .shared
            }
        }
    }

    /// libvirt's checks of `<memoryBacking>`'s huge pages.
    static func checkMemoryBacking(_ definition: DomainDefinition) throws(DomainXMLError) {
        let backing = definition.memoryBacking, pages = backing.hugePages
        guard !pages.isEmpty else { return }
        let cellCount = definition.cpu?.numaCells.count ?? 0
        for (index, page) in pages.enumerated() {
            for earlier in pages[..<index] {
                if let mine = page.nodeset, let theirs = earlier.nodeset, !mine.cpus.isDisjoint(with: theirs.cpus) {
                    throw DomainXMLError(.invalid, "nodeset attribute of hugepages of sizes \(page.sizeKiB) and \(earlier.sizeKiB) intersect")
                }
                if page.nodeset == nil && earlier.nodeset == nil {
                    throw DomainXMLError(.invalid, "two master hugepages detected: \(page.sizeKiB) and \(earlier.sizeKiB)")
                }
            }
            if let nodes = page.nodeset, let missing = nodes.cpus.sorted().first(where: { $0 >= cellCount }) {
                throw DomainXMLError(.invalid, "hugepages: node \(missing) not found")
            }
        }
        if backing.allocation == .ondemand {
            throw DomainXMLError(.unsupported, "hugepages are not allowed with memory allocation ondemand")
        }
        if backing.source == .anonymous {
            throw DomainXMLError(.unsupported, "hugepages are not allowed with anonymous memory source")
        }
    }
}
