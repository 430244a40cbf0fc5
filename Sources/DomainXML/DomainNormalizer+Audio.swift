import XMLTree

extension DomainNormalizer {
    /// libvirt's default audio backend for a definition without `<audio>` (with qemu.conf's
    /// defaults: no host audio for VNC or for guests without graphics).
    static func addDefaultAudio(_ devices: inout XMLElement) {
        guard !devices.hasElement(named: "audio"), let backend = defaultAudioBackend(graphics: devices.elements(named: "graphics")) else { return }
        devices.children.append(.element(element("audio", [("id", "1"), ("type", backend)])))
    }

    /// The backend of the audio libvirt adds by default (`qemuDomainDefCreateDefaultAudioBackend`):
    /// the last VNC or SPICE server decides, `none` for VNC and `spice` for SPICE; a guest
    /// without graphics gets `none`; an SDL display plays on the host, which libvirt only does
    /// when `QEMU_AUDIO_DRV` names a driver, so it gets none written.
    static func defaultAudioBackend(graphics: [XMLElement]) -> String? {
        var backend: String? = graphics.isEmpty ? "none" : nil
        for server in graphics {
            switch server[attribute: "type"] {
            case "vnc": backend = "none"
            case "spice": backend = "spice"
            case "sdl": backend = nil
            default: break
            }
        }
        return backend
    }
}
