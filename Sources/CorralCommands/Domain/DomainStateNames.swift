/// libvirt's domain state and reason names as virsh prints them.
enum DomainStateNames {
    static func state(_ state: Int32) -> String {
        switch state {
        case 1: return "running"
        case 2: return "idle"
        case 3: return "paused"
        case 4: return "in shutdown"
        case 5: return "shut off"
        case 6: return "crashed"
        case 7: return "pmsuspended"
        default: return "no state"
        }
    }

    static func reason(state: Int32, reason: Int32) -> String {
        let table: [String]
        switch state {
        case 1: table = ["unknown", "booted", "migrated", "restored", "from snapshot", "unpaused", "migration canceled", "save canceled", "event wakeup", "crashed", "post-copy"]
        case 2: table = ["unknown"]
        case 3: table = ["unknown", "user", "migrating", "saving", "dumping", "I/O error", "watchdog", "from snapshot", "shutting down", "creating snapshot", "starting up", "post-copy", "post-copy failed", "api error"]
        case 4: table = ["unknown", "user"]
        case 5: table = ["unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot", "daemon"]
        case 6: table = ["unknown", "panicked"]
        case 7: table = ["unknown"]
        default: table = ["unknown"]
        }
        return reason >= 0 && Int(reason) < table.count ? table[Int(reason)] : "unknown"
    }
}
