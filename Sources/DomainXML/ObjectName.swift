/// The rules for the name of a domain (and of pools, volumes and networks): any name libvirt
/// accepts works — commas, spaces, non-ASCII — except what could not safely become a file or
/// directory name: control characters (NUL included), `/`, and the names `.` and `..`.
public enum ObjectName {
    /// Why `name` cannot be used, as libvirt words it, or `nil` when it can.
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "missing name information" }
        if name == "." || name == ".." { return "name '\(name)' is not allowed" }
        if name.contains("/") { return "name \(name) cannot contain '/'" }
        for scalar in name.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7F {
            let hex = String(scalar.value, radix: 16)
            return "invalid char in name: 0x" + (hex.count < 2 ? "0" : "") + hex
        }
        return nil
    }

    /// Whether `name` may be used as a file or directory name.
    public static func isValid(_ name: String) -> Bool { problem(with: name) == nil }
}
