public import CorralJSON
public import QEMUConfig

/// The value of a QEMU option, rendered to argv text in one place: text (a plain argument, or a
/// `key=value,…` list whose values ``QEMUKeyValue`` escaped) or a JSON object (`-device`,
/// `-blockdev`, `-netdev`, `-object`…), which stays a value — overrides and alteration rules
/// edit its members, nothing parses rendered JSON back.
public enum QEMUOptionValue: Hashable, Sendable {
    case text(String)
    case json(JSONValue)

    /// The argv text.
    public var rendered: String {
        switch self {
        case .text(let text): return text
        case .json(let value): return value.description
        }
    }

    /// The `id` property, of a JSON object or a `key=value` list.
    public var id: String? { property("id") }

    /// The `driver` of a JSON `-device` (or the leading word of a `key=value` one).
    public var driver: String? {
        switch self {
        case .json(let value): return value["driver"]?.stringValue
        case .text(let text): return OptionValueEditor.splitOptionList(text).first.map { $0.replacingCommaEscapes() }
        }
    }

    /// The `qom-type` of a JSON `-object`.
    public var objectType: String? {
        guard case .json(let value) = self else { return nil }
        return value["qom-type"]?.stringValue
    }

    func property(_ key: String) -> String? {
        switch self {
        case .json(let value): return value[key]?.stringValue
        case .text(let text):
            return OptionValueEditor.splitOptionList(text).first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)).replacingCommaEscapes() }
        }
    }
}

/// One option of a QEMU command line: its name (with the dash) and its value, if it takes one.
public struct QEMUOption: Hashable, Sendable {
    public var name: String
    public var argument: QEMUOptionValue?

    /// The value as argv text (what alteration rules match against).
    public var value: String? { argument?.rendered }

    /// An option with a text value (or none).
    public init(_ name: String, _ value: String? = nil) {
        self.name = name
        self.argument = value.map { .text($0) }
    }

    /// An option with any value.
    public init(name: String, argument: QEMUOptionValue?) {
        self.name = name
        self.argument = argument
    }

    /// An option with a JSON value.
    public init(_ name: String, json: JSONValue) {
        self.name = name
        self.argument = .json(json)
    }
}

extension String {
    /// `,,` back to `,` (QEMU's reading of an escaped value).
    func replacingCommaEscapes() -> String {
        guard contains(",,") else { return self }
        return split(separator: ",,", omittingEmptySubsequences: false).joined(separator: ",")
    }
}

/// libvirt's taint flags that a start can set.
public enum DomainTaint: String, Sendable, Hashable, CaseIterable {
    case customArgv = "custom-argv"
    case customMonitor = "custom-monitor"
    case customGACommand = "custom-ga-command"
    case customHypervisorFeature = "custom-hypervisor-feature"
    case customDevice = "custom-device"
    case shellScripts = "shell-scripts"

    /// libvirt's message for the flag, as `virsh dominfo` shows it after "tainted: ".
    public var message: String {
        switch self {
        case .customArgv: return "custom configuration parameters specified"
        case .customMonitor: return "custom monitor control commands issued"
        case .customGACommand: return "custom guest agent control commands issued"
        case .customHypervisorFeature: return "hypervisor feature autodetection override"
        case .customDevice: return "custom device configuration"
        case .shellScripts: return "network configuration using opaque shell scripts"
        }
    }
}

/// A secret QEMU reads from a file (a `secret` object's `file`): the daemon writes it, mode
/// 0600, in the guest's run directory before starting QEMU, so it is never on the command line.
public struct QEMUSecretFile: Sendable, Hashable {
    public var path: String
    public var contents: [UInt8]
}

/// Everything needed to run QEMU for a domain.
public struct QEMUInvocation: Sendable, Hashable {
    /// The emulator.
    public var executable: String
    /// The options, in order (after alteration rules, before flattening).
    public var options: [QEMUOption]
    /// The environment, in order (QEMU gets exactly this).
    public var environment: [(String, String)]
    /// The configuration file to write before starting (passed with `-readconfig`), if any.
    public var configFile: QEMUConfigFile?
    /// The taints this start sets.
    public var taints: [DomainTaint]
    /// The QEMU names of the guest's devices.
    public var devices: GuestDevices
    /// The secrets to write before starting.
    public var secretFiles: [QEMUSecretFile] = []

    /// The argv after the executable.
    public var arguments: [String] {
        options.flatMap { option in option.value.map { [option.name, $0] } ?? [option.name] }
    }

    /// The environment and argv as one shell command line (what `domxml-to-native` prints).
    public var shellCommandLine: String {
        (environment.map { "\($0.0)=\(ShellQuoting.quote($0.1))" } + [ShellQuoting.quote(executable)] + arguments.map(ShellQuoting.quote))
            .joined(separator: " ")
    }

    public static func == (a: QEMUInvocation, b: QEMUInvocation) -> Bool {
        a.executable == b.executable && a.options == b.options && a.environment.elementsEqual(b.environment, by: { $0 == $1 })
            && a.configFile == b.configFile && a.taints == b.taints && a.devices == b.devices && a.secretFiles == b.secretFiles
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(executable)
        hasher.combine(options)
    }
}

/// Shell quoting as libvirt's argv dumps use it: plain words stay, others go in single quotes.
public enum ShellQuoting {
    public static func quote(_ word: String) -> String {
        if word.isEmpty { return "''" }
        let plain = word.unicodeScalars.allSatisfy { c in
            (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || "-_./=,:@+%".unicodeScalars.contains(c)
        }
        if plain { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
