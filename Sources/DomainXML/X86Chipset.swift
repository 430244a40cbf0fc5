/// The x86 chipsets, recognised by machine type as libvirt recognises them
/// (`qemuDomainIsI440FX`, `qemuDomainIsQ35`).
public enum X86Chipset: Hashable, Sendable {
    case i440fx, q35

    /// The chipset of `machine` (`pc-q35-7.2`, `q35`, `pc`, `pc-i440fx-7.2`), or `nil` for
    /// another machine type.
    public init?(machine: String) {
        if machine == "q35" || machine.hasPrefix("pc-q35") {
            self = .q35
        } else if machine == "pc" || machine.hasPrefix("pc-i440fx-") || machine.hasPrefix("pc-0.") || machine.hasPrefix("pc-1.") {
            self = .i440fx
        } else {
            return nil
        }
    }
}
