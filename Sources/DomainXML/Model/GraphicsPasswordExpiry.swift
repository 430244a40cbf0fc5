extension DomainDefinition.Graphics {
    /// `<graphics connected>`: what a password change does to clients already connected
    /// (QMP `set_password`'s `connected`; VNC takes `keep` only).
    public enum ConnectedClients: String, ModelledValue {
        case keep, disconnect, fail
    }

    /// `passwdValidTo` (`YYYY-MM-DDTHH:MM:SS`, UTC) as seconds since the epoch, as libvirt
    /// reads it (`virDomainGraphicsAuthDefParseXML`); nil for text of another form or a time
    /// that does not exist.
    public static func passwordExpiry(_ text: String) -> Int64? { UTCDateText.parse(text) }

    /// `seconds` since the epoch as libvirt writes `passwdValidTo` (UTC, zero-padded).
    public static func passwordExpiryText(_ seconds: Int64) -> String { UTCDateText.format(seconds) ?? "" }
}
