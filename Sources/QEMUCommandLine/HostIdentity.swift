import Glibc

/// User and group names as libvirt resolves them (`virGetUserID`, `virGetGroupID`): `+N` is the
/// number N; anything else a name the host's databases know, else a number; otherwise
/// libvirt's error.
enum HostIdentity {
    static func userID(_ name: String) throws(CommandLineError) -> UInt32 {
        if !name.hasPrefix("+"), let entry = getpwnam(name) { return entry.pointee.pw_uid }
        return try number(name, kind: "user")
    }

    static func groupID(_ name: String) throws(CommandLineError) -> UInt32 {
        if !name.hasPrefix("+"), let entry = getgrnam(name) { return entry.pointee.gr_gid }
        return try number(name, kind: "group")
    }

    private static func number(_ name: String, kind: String) throws(CommandLineError) -> UInt32 {
        let digits = name.hasPrefix("+") ? String(name.dropFirst()) : name
        guard let value = UInt32(digits) else { throw CommandLineError(.unsupported, "Failed to parse \(kind) '\(digits)'") }
        return value
    }
}
