/// What QEMU did when a watchdog fired (`VIR_DOMAIN_EVENT_WATCHDOG_*`; QEMU's `WATCHDOG`
/// event names them).
enum WatchdogEventAction: Int32, Sendable {
    case none = 0, pause, reset, poweroff, shutdown, debug, injectNMI

    /// The action QEMU's event names; one it does not know is `none` (libvirt's rule).
    init(qemuName: String?) {
        switch qemuName {
        case "pause": self = .pause
        case "reset": self = .reset
        case "poweroff": self = .poweroff
        case "shutdown": self = .shutdown
        case "debug": self = .debug
        case "inject-nmi": self = .injectNMI
        default: self = .none
        }
    }
}

/// What QEMU did about a disk's failed I/O (`VIR_DOMAIN_EVENT_IO_ERROR_*`; QEMU's
/// `BLOCK_IO_ERROR` event names them `ignore`, `stop` and `report`).
enum IOErrorEventAction: Int32, Sendable {
    case none = 0, pause, report

    /// The action QEMU's event names; one it does not know is `none` (libvirt's rule).
    init(qemuName: String?) {
        switch qemuName {
        case "stop": self = .pause
        case "report": self = .report
        default: self = .none
        }
    }
}
