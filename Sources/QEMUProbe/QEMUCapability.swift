/// A feature of the emulator that changes how Corral writes its command line; the names are the
/// ones `<qemu:capabilities>` adds and removes (libvirt's capability names).
///
/// Each is derived from what the emulator itself reported when probed
/// (``EmulatorCapabilities/qemuCapabilities``), never from its version number.
public enum QEMUCapability: String, CaseIterable, Sendable, Codable, Hashable {
    /// `-blockdev` for disks: the QMP command `blockdev-add` exists.
    case blockdev
    /// `-device` takes JSON: `device_add` carries the schema feature `json-cli`.
    case deviceJSON = "device-json"
    /// `-compat deprecated-output=…,deprecated-input=…`: the emulator accepted `-compat` when probed.
    case compatDeprecated = "compat-deprecated"
    /// `-sandbox`: the command-line option `sandbox` exists (QEMU built with seccomp).
    case seccompSandbox = "seccomp-sandbox"
    /// `-audiodev` with sound devices: the sound codec `hda-duplex` has an `audiodev` property.
    case audiodev

    /// The capabilities an emulator offers, from the facts its probe collected.
    public static func offered(by emulator: EmulatorCapabilities) -> Set<QEMUCapability> {
        var offered: Set<QEMUCapability> = []
        if emulator.commands.contains("blockdev-add") { offered.insert(.blockdev) }
        if emulator.deviceAddFeatures.contains("json-cli") { offered.insert(.deviceJSON) }
        if emulator.acceptsCompatOption { offered.insert(.compatDeprecated) }
        if emulator.configGroups.contains("sandbox") { offered.insert(.seccompSandbox) }
        if emulator.soundCodecProperties.contains("audiodev") { offered.insert(.audiodev) }
        return offered
    }
}
