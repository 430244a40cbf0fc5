/// What happens when a guest powers off, reboots or crashes (`<on_poweroff>`, `<on_reboot>`,
/// `<on_crash>`), with libvirt's values.
public enum LifecycleAction: String, Sendable, Hashable, CaseIterable {
    case destroy
    case restart
    case preserve
    case renameRestart = "rename-restart"
    case coredumpDestroy = "coredump-destroy"
    case coredumpRestart = "coredump-restart"

    /// The element that holds it.
    public enum Event: String, Sendable, CaseIterable {
        case poweroff = "on_poweroff"
        case reboot = "on_reboot"
        case crash = "on_crash"

        /// The values libvirt's schema allows for this element.
        var allowed: Set<LifecycleAction> {
            self == .crash ? Set(LifecycleAction.allCases) : [.destroy, .restart, .preserve, .renameRestart]
        }

        /// The values Corral carries out for this element (the rest are refused at define, not
        /// ignored). `rename-restart` restarts, as libvirt's QEMU driver does.
        var supported: Set<LifecycleAction> {
            switch self {
            case .poweroff: return [.destroy, .restart, .preserve, .renameRestart]
            case .reboot: return [.destroy, .restart]
            case .crash: return [.destroy, .restart, .preserve]
            }
        }
    }

    /// Checks the value of `event` in `text`: an unknown value is invalid, a known one that
    /// Corral does not carry out is unsupported.
    static func validate(_ text: String, for event: Event, line: Int) throws(DomainXMLError) {
        guard let action = LifecycleAction(rawValue: text), event.allowed.contains(action) else {
            throw DomainXMLError(.invalid, line: line, "invalid value '\(text)' for <\(event.rawValue)>")
        }
        guard event.supported.contains(action) else {
            throw DomainXMLError(.unsupported, line: line, "<\(event.rawValue)> '\(text)' is not supported by Corral's QEMU driver")
        }
    }
}
