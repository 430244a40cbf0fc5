import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Watchdogs and the action QEMU takes when one fires (`-action watchdog=…`).
    mutating func addWatchdogs() throws(CommandLineError) {
        for (index, watchdog) in domain.devices.watchdogs.enumerated() {
            switch watchdog.model {
            case .i6300esb, .ib700:
                addDevice([("driver", .string(watchdog.model.rawValue)), ("id", .string(DeviceAliases.positional("watchdog", given: watchdog.alias, position: index)))] + pciPlacement(watchdog.pciAddress))
            case .itco: break  // built into q35
            case .diag288: throw CommandLineError(.unsupported, "watchdog model '\(watchdog.model.rawValue)' is not supported")
            }
            // QEMU's -action watchdog= has no dump: libvirt pauses and dumps itself.
            let action = watchdog.action == .dump ? "pause" : watchdog.action.rawValue
            add("-action", QEMUKeyValue.render([("watchdog", action)]))
        }
    }
}
