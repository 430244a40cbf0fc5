extension DomainDriver {
    /// QMP `expire_password`'s `time` for a display password, as libvirt's
    /// `qemuDomainChangeGraphicsPasswords` gives it: `now` for an empty password or one whose
    /// `passwdValidTo` has passed, the expiry in seconds since the epoch, else `never`.
    nonisolated static func passwordExpiry(password: String, validTo: Int64?, now: Int64) -> String {
        if password.isEmpty { return "now" }
        guard let validTo else { return "never" }
        return validTo <= now ? "now" : String(validTo)
    }
}
