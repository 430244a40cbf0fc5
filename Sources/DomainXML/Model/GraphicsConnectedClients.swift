extension DomainDefinition.Graphics {
    /// `<graphics connected>`: what a password change does to clients already connected
    /// (QMP `set_password`'s `connected`; VNC takes `keep` only).
    public enum ConnectedClients: String, ModelledValue {
        case keep, disconnect, fail
    }
}
