/// What the command line depends on beyond the definition: the emulator, the domain's id and its
/// runtime paths.
public struct CommandLineContext: Sendable {
    /// The emulator binary.
    public var emulator: String
    /// The emulator's version (major × 1,000,000 + minor × 1,000 + micro).
    public var emulatorVersion: UInt64
    /// Whether KVM can be used.
    public var kvmUsable: Bool
    /// The emulator's capability view before `qemu:capabilities` changes it.
    public var capabilities: Set<String>
    /// The domain's id.
    public var id: Int32
    /// The domain's runtime directory (`run-dir/domains/NAME`).
    public var runDirectory: String
    /// The VNC display to use for an autoport VNC server (port − 5900).
    public var vncDisplay: Int?
    /// Whether the daemon runs as root (`HOME` and `XDG_*` then point into the domain's directory).
    public var privileged: Bool
    /// Variables passed through from the daemon's environment when set (libvirt's list).
    public var passthroughEnvironment: [String: String]

    public var qmpSocket: String { runDirectory + "/qmp.sock" }
    public var passthroughSocket: String { runDirectory + "/passthrough.sock" }
    public var configFilePath: String { runDirectory + "/qemu.cfg" }
    public var pidFile: String { runDirectory + "/qemu.pid" }

    /// The capabilities Corral probes and uses to choose syntax; `qemu:capabilities` may add or
    /// remove these names, and any other name is refused at start.
    public static let knownCapabilities: Set<String> = ["blockdev", "device-json", "compat-deprecated", "seccomp-sandbox", "audiodev"]

    /// What QEMU 7.2 and later offer.
    public static func capabilities(forVersion version: UInt64) -> Set<String> {
        version >= 7_002_000 ? knownCapabilities : ["blockdev", "seccomp-sandbox"]
    }

    public init(
        emulator: String, emulatorVersion: UInt64, kvmUsable: Bool, id: Int32, runDirectory: String, vncDisplay: Int? = nil,
        privileged: Bool = true, passthroughEnvironment: [String: String] = [:]
    ) {
        self.emulator = emulator
        self.emulatorVersion = emulatorVersion
        self.kvmUsable = kvmUsable
        self.capabilities = Self.capabilities(forVersion: emulatorVersion)
        self.id = id
        self.runDirectory = runDirectory
        self.vncDisplay = vncDisplay
        self.privileged = privileged
        self.passthroughEnvironment = passthroughEnvironment
    }
}
