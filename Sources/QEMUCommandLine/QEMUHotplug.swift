public import DomainXML
import QEMUProbe

/// The options of one device of a running guest, for hot-plugging it: the same code that writes
/// the command line writes them, with the guest's existing device names, and the domain's qemu
/// namespace applies to them too (its overrides of the device's id, and alteration rules, which
/// here need not match).
public enum QEMUHotplug {
    /// A device of a definition, by kind and position.
    public enum Device: Hashable, Sendable {
        case disk(Int)
        case interface(Int)
        case rng(Int)
        case scsiController(Int)
        case channel(Int)
        case memory(Int)
        case input(Int)
        case watchdog(Int)
    }

    /// The `-blockdev`, `-netdev`, `-object`, `-chardev` and `-device` options of `device` (in
    /// this order), each a JSON value ready to become `blockdev-add`, `netdev_add`, `object-add`,
    /// `chardev-add` and `device_add`.
    ///
    /// - Parameters:
    ///   - domain: the guest's live definition, which holds the device.
    ///   - devices: the guest's device names, the new device's included.
    /// - Throws: ``CommandLineError`` for what cannot be plugged in.
    public static func options(for device: Device, of domain: DomainDefinition, devices: GuestDevices, context: CommandLineContext) throws(CommandLineError) -> [QEMUOption] {
        var builder = Builder(domain: domain, context: context, devices: devices)
        try builder.applyCapabilityOverrides()
        guard builder.capabilities.contains(.deviceJSON) else {
            throw CommandLineError(.unsupported, "hotplug needs an emulator that takes devices as JSON")
        }
        switch device {
        case .disk(let index): try builder.addDisk(at: index)
        case .interface(let index): try builder.addInterface(at: index)
        case .rng(let index): try builder.addRNG(at: index)
        case .scsiController(let index): try builder.addSCSIController(at: index)
        case .channel(let index): try builder.addChannel(at: index, forHotplug: true)
        case .memory(let index): try builder.addMemoryDevice(at: index)
        case .input(let index): try builder.addInput(at: index)
        case .watchdog(let index): try builder.addWatchdog(at: index)
        }
        try builder.applyOverrides(requireAll: false)
        try builder.applyAlterations(requireMatches: false)
        return builder.options
    }
}
