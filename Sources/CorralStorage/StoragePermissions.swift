/// `<permissions>` of a pool's target or a volume: mode, owner and group (`-1`/absent: leave as is).
public struct StoragePermissions: Sendable, Hashable {
    /// The octal mode, or `nil` for the default (pool directory 0711 when built, volume 0600).
    public var mode: UInt32?
    /// The owner's uid, or `nil` to keep the daemon's.
    public var owner: UInt32?
    /// The group's gid, or `nil` to keep the daemon's.
    public var group: UInt32?
    /// The security label, kept as given.
    public var label: String?

    /// Creates permissions.
    public init(mode: UInt32? = nil, owner: UInt32? = nil, group: UInt32? = nil, label: String? = nil) {
        self.mode = mode
        self.owner = owner
        self.group = group
        self.label = label
    }

    /// Whether nothing is set.
    public var isEmpty: Bool { mode == nil && owner == nil && group == nil && label == nil }

    /// Reads `<permissions>` (libvirt's `virStorageDefParsePerms`).
    static func read(_ element: XMLElementView?) throws(StorageError) -> StoragePermissions {
        guard let element else { return StoragePermissions() }
        var permissions = StoragePermissions()
        if let text = element.childText("mode") {
            guard let mode = UInt32(text, radix: 8), mode <= 0o7777, !text.hasPrefix("-"), !text.hasPrefix("+") else {
                throw StorageError(.xml, "malformed octal mode")
            }
            permissions.mode = mode
        }
        permissions.owner = try Self.identity(element.childText("owner"), "owner")
        permissions.group = try Self.identity(element.childText("group"), "group")
        permissions.label = element.childText("label")
        return permissions
    }

    private static func identity(_ text: String?, _ name: String) throws(StorageError) -> UInt32? {
        guard let text else { return nil }
        if text == "-1" { return nil }
        guard let value = UInt32(text), value != UInt32.max else { throw StorageError(.xml, "malformed \(name) element") }
        return value
    }

    /// libvirt's `<permissions>` text at `indent`, or nothing when empty.
    func format(indent: String) -> String {
        if isEmpty { return "" }
        var out = indent + "<permissions>\n"
        if let mode { out += indent + "  <mode>" + Self.octal(mode) + "</mode>\n" }
        if let owner { out += indent + "  <owner>\(owner)</owner>\n" }
        if let group { out += indent + "  <group>\(group)</group>\n" }
        if let label { out += indent + "  <label>" + XMLText.escape(label) + "</label>\n" }
        return out + indent + "</permissions>\n"
    }

    /// A mode as libvirt prints it (`%04o`).
    public static func octal(_ mode: UInt32) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
