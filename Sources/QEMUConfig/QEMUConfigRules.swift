/// What QEMU's configuration-file format can hold (`util/qemu-config.c`), and the rules about
/// groups that QEMU enforces when it applies the sections.
public enum QEMUConfigRules {
    /// Group, key and id names: `%63s`.
    public static let maximumNameLength = 63
    /// Values: `%1023[^"]`.
    public static let maximumValueLength = 1023
    /// `fgets` into a 1024-byte buffer: 1022 characters plus the newline.
    public static let maximumLineLength = 1022

    /// The groups QEMU 7.2 accepts (`query-command-line-options`), used when no emulator was probed.
    public static let qemu72Groups: Set<String> = [
        "accel", "acpi", "action", "add-fd", "boot-opts", "chardev", "device", "drive", "fsdev", "fw_cfg", "global", "icount",
        "iscsi", "machine", "memory", "mon", "msg", "name", "net", "netdev", "nic", "numa", "object", "option-rom", "overcommit",
        "plugin", "rtc", "sandbox", "smbios", "smp-opts", "tpmdev", "trace", "virtfs", "vnc",
    ]

    /// Groups whose sections merge into one and refuse an id in the header (checked on QEMU 7.2).
    public static let groupsWithoutID: Set<String> = ["name", "memory", "rtc", "icount", "action", "machine", "smp-opts", "boot-opts"]

    /// Groups whose sections QEMU 7.2 cannot take without an id (`[vnc]` without one crashes it).
    public static let groupsNeedingID: Set<String> = ["vnc"]

    /// Whether `id` is an identifier as QEMU requires: a letter, then letters, digits, `-`, `.` or `_`.
    public static func isValidID(_ id: String) -> Bool {
        var bytes = id.utf8.makeIterator()
        guard let first = bytes.next(), isLetter(first) else { return false }
        while let b = bytes.next() {
            guard isLetter(b) || (b >= 48 && b <= 57) || b == 45 || b == 46 || b == 95 else { return false }
        }
        return true
    }

    @inline(__always)
    static func isLetter(_ b: UInt8) -> Bool { (b >= 65 && b <= 90) || (b >= 97 && b <= 122) }

    /// Why `value` cannot be written to a configuration file, or `nil` if it can.
    public static func problem(withValue value: String) -> String? {
        if value.utf8.count > maximumValueLength { return "is longer than QEMU's \(maximumValueLength)-byte limit for values" }
        for b in value.utf8 {
            switch b {
            case UInt8(ascii: "\""): return "contains a double quote, which QEMU's file format cannot hold (there are no escapes)"
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"): return "contains a line break, which QEMU's file format cannot hold"
            case 0: return "contains a NUL byte"
            default: continue
            }
        }
        return nil
    }

    /// Why `name` cannot be a group, key or id name, or `nil` if it can.
    public static func problem(withName name: String, kind: String) -> String? {
        if name.isEmpty { return "the \(kind) is empty" }
        if name.utf8.count > maximumNameLength { return "the \(kind) '\(name)' is longer than QEMU's \(maximumNameLength)-byte limit" }
        for b in name.utf8 where b <= 32 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "]") || b == UInt8(ascii: "[") || b == 127 {
            return "the \(kind) '\(name)' contains a space, quote, bracket or control character"
        }
        return nil
    }
}
