import CorralJSON
public import DomainXML
import QEMUProbe

extension Builder {
    /// Watchdogs and the action QEMU takes when one fires (`-action watchdog=…`).
    mutating func addWatchdogs() throws(CommandLineError) {
        for (index, watchdog) in domain.devices.watchdogs.enumerated() {
            try addWatchdog(at: index)
            add("-action", QEMUKeyValue.render([("watchdog", watchdog.action.qemuAction)]))
        }
    }

    /// The watchdog device at `index` (none for q35's built-in iTCO).
    mutating func addWatchdog(at index: Int) throws(CommandLineError) {
        let watchdog = domain.devices.watchdogs[index]
        switch watchdog.model {
        case .i6300esb, .ib700:
            addDevice([("driver", .string(watchdog.model.rawValue)), ("id", .string(DeviceAliases.positional("watchdog", given: watchdog.alias, position: index)))] + pciPlacement(watchdog.pciAddress))
        case .itco: break  // built into q35
        case .diag288: throw CommandLineError(.unsupported, "watchdog model '\(watchdog.model.rawValue)' is not supported")
        }
    }
}

extension DomainDefinition.Watchdog.Action {
    /// QEMU's name of the action (`-action watchdog=`, `set-action`): QEMU has no dump, so
    /// libvirt has it pause and dumps itself.
    public var qemuAction: String { self == .dump ? "pause" : rawValue }
}
