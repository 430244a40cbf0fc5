public import DomainXML

/// libvirt's aliases (`qemuAssignDeviceAliases`) for the devices ``GuestDevices`` does not name
/// itself: each one's QEMU device id, which the command line gives it and the live XML reports
/// as `<alias name>`. An alias the document already has (a user's `ua-…`, or the one a running
/// guest's document carries) wins.
public enum DeviceAliases {
    /// A controller's: `pci.N` (`pcie.0` for a PCIe root), `ide` for the chipset's own IDE
    /// (i440fx) or SATA (q35) controller, `usb` for USB controller 0, else type and index
    /// (`virtio-serial0`, `scsi1`, `ccid0`).
    public static func controller(_ controller: DomainDefinition.Controller, machine: String?) -> String {
        self.controller(type: controller.type, index: controller.index, model: controller.model, given: controller.alias, machine: machine)
    }

    /// The same from a controller's fields (the live XML names each `<controller>` element by
    /// its own, as libvirt's parser may order them otherwise than the definition they came from).
    public static func controller(type: DomainDefinition.Controller.Kind, index: Int, model: String?, given: String?, machine: String?) -> String {
        if let given { return given }
        let chipset = machine.flatMap(X86Chipset.init(machine:))
        switch type {
        case .pci:
            return model == "pcie-root" ? "pcie.\(index)" : "pci.\(index)"
        case .ide where chipset == .i440fx && index == 0, .sata where chipset == .q35 && index == 0:
            return "ide"
        case .usb where index == 0:
            return "usb"
        default:
            return type.rawValue + String(index)
        }
    }

    /// The socket chardev of a vhost-user device (a disk, a virtiofs share) whose alias is
    /// `alias`: libvirt's `chr-vu-` + alias (`qemuDomainGetVhostUserChrAlias`).
    public static func vhostUserChardev(_ alias: String) -> String { "chr-vu-" + alias }

    /// `prefix` and the device's position in its list (`sound1`, `input2`, `video0`), as libvirt
    /// names sounds, videos, inputs, TPMs, hubs, smartcards, shared memory, redirected devices,
    /// parallel ports and watchdogs at start.
    public static func positional(_ prefix: String, given: String?, position: Int) -> String {
        given ?? prefix + String(position)
    }

    /// Each device's alias where libvirt counts on from the highest `prefix`N in use (RNGs,
    /// filesystems, host devices, crypto devices): one without an alias gets one more than the highest so far, so
    /// the first RNG without a user alias is `rng0` even after one with a user alias.
    public static func counted(_ prefix: String, given: [String?]) -> [String] {
        var next: Int32 = 0
        for case let alias? in given {
            // libvirt reads the number as an int; a larger one does not count.
            if alias.hasPrefix(prefix), let number = Int32(alias.dropFirst(prefix.count)), number >= 0, number < Int32.max { next = max(next, number + 1) }
        }
        return given.map { alias in
            if let alias { return alias }
            defer { next = next == Int32.max ? next : next + 1 }
            return prefix + String(next)
        }
    }

    /// The alias of each device element of `domain` that libvirt gives one, by element name, in
    /// document order (`nil` where the element has none): what the live XML writes as
    /// `<alias name>`. Disks, interfaces, character devices and memory devices are
    /// ``GuestDevices``'s; controllers are named by their own fields
    /// (``controller(type:index:model:given:machine:)``).
    public static func elementAliases(_ domain: DomainDefinition) -> [String: [String?]] {
        let devices = domain.devices
        var aliases: [String: [String?]] = [:]
        aliases["input"] = devices.inputs.enumerated().map { positional("input", given: $1.alias, position: $0) }
        aliases["sound"] = devices.sounds.enumerated().map { positional("sound", given: $1.alias, position: $0) }
        aliases["video"] = devices.videos.enumerated().map { positional("video", given: $1.alias, position: $0) }
        aliases["watchdog"] = devices.watchdogs.enumerated().map { positional("watchdog", given: $1.alias, position: $0) }
        aliases["tpm"] = devices.tpms.enumerated().map { positional("tpm", given: $1.alias, position: $0) }
        aliases["hub"] = devices.hubs.enumerated().map { positional("hub", given: $1.alias, position: $0) }
        aliases["smartcard"] = devices.smartcards.enumerated().map { positional("smartcard", given: $1.alias, position: $0) }
        aliases["shmem"] = devices.sharedMemory.enumerated().map { positional("shmem", given: $1.alias, position: $0) }
        aliases["parallel"] = devices.parallels.enumerated().map { positional("parallel", given: $1.alias, position: $0) }
        aliases["redirdev"] = devices.redirectedDevices.enumerated().map { positional("redir", given: $1.alias, position: $0) }
        aliases["rng"] = counted("rng", given: devices.rngs.map(\.alias))
        aliases["filesystem"] = counted("fs", given: devices.filesystems.map(\.alias))
        aliases["hostdev"] = counted("hostdev", given: devices.hostDevices.map(\.alias))
        aliases["crypto"] = counted("crypto", given: devices.cryptos.map(\.alias))
        if let balloon = devices.memballoon { aliases["memballoon"] = [balloon.model.isVirtio ? balloon.alias ?? "balloon0" : nil] }
        if let vsock = devices.vsock { aliases["vsock"] = [vsock.alias ?? "vsock0"] }
        if let iommu = devices.iommu { aliases["iommu"] = [iommu.alias ?? "iommu0"] }
        if let pstore = devices.pstore { aliases["pstore"] = [pstore.alias ?? "pstore0"] }
        return aliases
    }
}
