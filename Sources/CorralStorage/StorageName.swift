/// The rules for pool and volume names: a name becomes a file name (the pool's definition
/// `NAME.xml`, a volume's file in the pool's directory), so it may never leave that directory.
public enum StorageName {
    /// Why `name` cannot name a pool, or `nil`.
    ///
    /// libvirt refuses `/`; Corral also refuses the empty name, `.`, `..`, names starting with a
    /// dot (the store's temporary files) and control characters.
    public static func poolProblem(_ name: String) -> String? {
        if name.contains("/") { return "name \(name) cannot contain '/'" }
        if name.isEmpty || name.hasPrefix(".") || name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "name '\(name)' is not allowed for a storage pool"
        }
        return nil
    }

    /// Why `name` cannot name a volume in a directory pool, or `nil`.
    public static func volumeProblem(_ name: String) -> String? {
        if name.contains("/") { return "volume name '\(name)' cannot contain '/'" }
        if name.isEmpty || name == "." || name == ".." || name.unicodeScalars.contains(where: { $0.value == 0 }) {
            return "volume name '\(name)' is not allowed"
        }
        return nil
    }
}
