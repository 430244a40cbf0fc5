import CorralJSON
import DomainXML
import QEMUProbe

extension Builder {
    /// Watchdogs and the action QEMU takes when one fires (`-action watchdog=…`).
    mutating func addWatchdogs() throws(CommandLineError) {
        for (index, watchdog) in domain.devices.watchdogs.enumerated() {
            switch watchdog.model {
            case "i6300esb", "ib700": addDevice([("driver", .string(watchdog.model)), ("id", .string(watchdog.alias ?? "watchdog\(index)"))])
            case "itco": break  // built into q35
            default: throw CommandLineError(.unsupported, "watchdog model '\(watchdog.model)' is not supported")
            }
            let action = watchdog.action == "destroy" ? "poweroff" : watchdog.action == "dump" ? "pause" : watchdog.action
            add("-action", QEMUKeyValue.render([("watchdog", action)]))
        }
    }
}
