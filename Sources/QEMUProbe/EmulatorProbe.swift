import CorralJSON
import Foundation
public import Logging
import POSIXSupport

/// What an emulator is and can do, learned by asking it over QMP.
public struct EmulatorCapabilities: Sendable, Equatable, Codable {
    /// One machine type.
    public struct Machine: Sendable, Equatable, Codable {
        /// The name (`pc-q35-7.2`, or an alias such as `q35`).
        public var name: String
        /// The machine this name is an alias of, if it is one.
        public var canonical: String?
        /// The largest vCPU count.
        public var maximumCPUs: Int
        /// Whether this is the default machine.
        public var isDefault: Bool
        /// The CPU model QEMU gives it when `-cpu` says none (`qemu64`), from `default-cpu-type`.
        public var defaultCPUModel: String? = nil
    }

    /// The emulator's path.
    public var path: String
    /// The version as libvirt encodes it: major × 1,000,000 + minor × 1,000 + micro (0 = unknown).
    public var version: UInt64
    /// The machine types, in the order QEMU listed them (aliases included).
    public var machines: [Machine]
    /// Whether KVM is present and usable for this emulator.
    public var kvmUsable: Bool
    /// The option groups its configuration files accept (`query-command-line-options`).
    public var configGroups: Set<String>
    /// The device types it offers (`qom-list-types` implementing `device`).
    public var deviceTypes: Set<String> = []
    /// The QMP commands it offers (`query-commands`).
    public var commands: Set<String> = []
    /// The schema features of its `device_add` command (`query-qmp-schema`), such as `json-cli`.
    public var deviceAddFeatures: Set<String> = []
    /// The properties of the sound codec `hda-duplex` (`device-list-properties`).
    public var soundCodecProperties: Set<String> = []
    /// Whether it accepted `-compat` on its command line.
    public var acceptsCompatOption = false
    /// Its named CPU models (`query-cpu-definitions`), in the order QEMU listed them.
    public var cpuModels: [CPUModel] = []
    /// The object types `-object` accepts (`qom-list-types` implementing `user-creatable`):
    /// optional ones such as `cryptodev-backend-lkcf` depend on how QEMU was built.
    public var objectTypes: Set<String> = []
    /// The CPU QEMU can give a guest under the probe's accelerator (its `max` CPU, statically
    /// expanded), from which the host model is found; `nil` when QEMU did not say.
    public var hostCPU: HostCPU? = nil

    /// QEMU's static expansion of its `max` CPU (`query-cpu-model-expansion`).
    public struct HostCPU: Sendable, Equatable, Codable {
        /// The accelerator the probe ran under, `kvm` or `tcg`: the expansion holds for it only.
        public var accelerator: String
        /// The boolean properties that are on, in QEMU's spelling, sorted.
        public var enabledProperties: [String]
        /// The CPUID vendor string (`AuthenticAMD`).
        public var vendor: String?
        public var family: UInt32
        public var model: UInt32
        public var stepping: UInt32

        public init(accelerator: String, enabledProperties: [String], vendor: String?, family: UInt32, model: UInt32, stepping: UInt32) {
            self.accelerator = accelerator
            self.enabledProperties = enabledProperties
            self.vendor = vendor
            self.family = family
            self.model = model
            self.stepping = stepping
        }

        /// The expansion from a `query-cpu-model-expansion` reply line; `nil` when it is not one.
        static func parse(replyLine: some Collection<UInt8>, accelerator: String) -> HostCPU? {
            guard let reply = try? JSONValue.parse(replyLine), case .object(let properties)? = reply["return"]?["model"]?["props"] else { return nil }
            func number(_ name: String) -> UInt32 { reply["return"]?["model"]?["props"]?[name]?.intValue.flatMap { UInt32(exactly: $0) } ?? 0 }
            let enabled = properties.compactMap { name, value -> String? in
                guard case .bool(true) = value else { return nil }
                return name
            }.sorted()
            let vendor = reply["return"]?["model"]?["props"]?["vendor"]?.stringValue
            return HostCPU(accelerator: accelerator, enabledProperties: enabled, vendor: vendor, family: number("family"), model: number("model"), stepping: number("stepping"))
        }
    }

    /// A named CPU model.
    public struct CPUModel: Sendable, Equatable, Codable {
        /// The model's name (`qemu64`, `Skylake-Client`, …).
        public var name: String
        /// Whether the probed accelerator can run it as it is (no unavailable features).
        public var usable: Bool
        /// Whether QEMU marks it deprecated.
        public var deprecated: Bool
        /// The features that keep it from running under the probed accelerator
        /// (`unavailable-features`), in QEMU's spelling.
        public var blockers: [String] = []

        public init(name: String, usable: Bool, deprecated: Bool, blockers: [String] = []) {
            self.name = name
            self.usable = usable
            self.deprecated = deprecated
            self.blockers = blockers
        }
    }

    /// The named CPU models as libvirt lists them: `host` and `max` are modes, not models, and
    /// versioned names (`Broadwell-v2`) are QEMU's spellings of the unversioned ones.
    public var namedCPUModels: [CPUModel] {
        cpuModels.filter { !["host", "max", "base"].contains($0.name) && !Self.isVersioned($0.name) }
    }

    /// Whether a CPU model name ends in QEMU's version suffix (`-v1`, `-v12`).
    static func isVersioned(_ name: String) -> Bool {
        guard let dash = name.lastIndex(of: "-") else { return false }
        let suffix = name[name.index(after: dash)...]
        return suffix.count > 1 && suffix.first == "v" && suffix.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// The command-line features Corral may use with this emulator.
    public var qemuCapabilities: Set<QEMUCapability> { QEMUCapability.offered(by: self) }

    /// Capabilities for an emulator that could not be probed.
    public static func unknown(path: String) -> EmulatorCapabilities {
        EmulatorCapabilities(path: path, version: 0, machines: [], kvmUsable: false, configGroups: [], deviceTypes: [], commands: [])
    }

    /// The version as `major.minor.micro`.
    public var versionString: String {
        "\(version / 1_000_000).\(version / 1000 % 1000).\(version % 1000)"
    }
}

/// Runs `EMULATOR -machine none -qmp stdio` and asks it for its version, machines, KVM state and
/// configuration-file groups. Results can be cached by the binary's identity (path, inode, size,
/// modification time), so a changed binary is probed again.
public enum EmulatorProbe {
    /// The cache's format, in its file names: a daemon that records more of the probe (such as
    /// the machines' default CPU models) does not take an older daemon's cache for complete.
    /// Format 3: KVM also needs the host CPU to advertise hardware virtualization.
    /// Format 4: the object types.
    /// Format 6: the host CPU's expansion and each CPU model's blockers, under KVM only where
    /// KVM runs guests.
    static let cacheFormat = 6

    /// Probes `path`, using and refreshing a cache in `cacheDirectory` when given; on any failure
    /// logs why and returns ``EmulatorCapabilities/unknown(path:)``.
    public static func probe(path: String, cacheDirectory: String? = nil, logger: Logger) -> EmulatorCapabilities {
        let cacheFile = cacheDirectory.flatMap { directory in identity(of: path).map { "\(directory)/emulator-v\(cacheFormat)-\($0).json" } }
        if let cacheFile, let data = FileManager.default.contents(atPath: cacheFile),
            let cached = try? JSONDecoder().decode(EmulatorCapabilities.self, from: data), cached.path == path
        {
            return cached
        }
        do {
            let capabilities = try run(path: path)
            logger.info("probed emulator", metadata: ["path": "\(path)", "version": "\(capabilities.versionString)", "machines": "\(capabilities.machines.count)", "kvm": "\(capabilities.kvmUsable)"])
            if let cacheFile, let data = try? JSONEncoder().encode(capabilities) {
                try? FileManager.default.createDirectory(atPath: (cacheFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let temporary = cacheFile + ".tmp.\(getpid())"
                if FileManager.default.createFile(atPath: temporary, contents: data) { rename(temporary, cacheFile) }
            }
            return capabilities
        } catch {
            logger.warning("could not probe the emulator; its version will read as unknown", metadata: ["path": "\(path)", "error": "\(error)"])
            return .unknown(path: path)
        }
    }

    /// A short text naming this exact binary, or `nil` if it does not exist.
    static func identity(of path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        var hasher = FNV1a()
        hasher.add(path)
        hasher.add("\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)")
        // Whether KVM can be used is part of the answer, so it is part of the key.
        hasher.add(FileManager.default.isWritableFile(atPath: "/dev/kvm") ? "kvm" : "tcg")
        return String(hasher.value, radix: 16)
    }

    struct ProbeError: Error, CustomStringConvertible {
        var description: String
        /// The emulator refused `-compat` (so it is asked again without it, and only then).
        var refusedCompat = false
    }

    static func run(path: String) throws -> EmulatorCapabilities {
        guard FileManager.default.isExecutableFile(atPath: path) else { throw ProbeError(description: "\(path) is not an executable file") }
        // `-compat` with QEMU's default policy changes nothing; an emulator without the option
        // refuses to start, and is asked again without it.
        do {
            return try run(path: path, compat: true)
        } catch let error as ProbeError where error.refusedCompat {
            return try run(path: path, compat: false)
        }
    }

    static func run(path: String, compat: Bool) throws -> EmulatorCapabilities {
        // KVM only where it really runs guests, else TCG: the CPU models' blockers and the
        // host CPU's expansion are the accelerator's own, and guests run under TCG where KVM
        // does not work (a nested host may offer a /dev/kvm that accepts guests and barely runs
        // them). With `-accel kvm -accel tcg` QEMU falls back to TCG; query-kvm says which.
        let kvmWorks = FileManager.default.isWritableFile(atPath: "/dev/kvm") && hostAdvertisesHardwareVirtualization() && kvmRunsGuestCode(emulator: path)
        let accel = kvmWorks ? ["-accel", "kvm", "-accel", "tcg"] : ["-accel", "tcg"]
        let commands = [
            #""qmp_capabilities""#, #""query-version""#, #""query-machines""#, #""query-kvm""#, #""query-command-line-options""#,
            #""qom-list-types","arguments":{"implements":"device","abstract":false}"#, #""query-commands""#, #""query-qmp-schema""#,
            #""device-list-properties","arguments":{"typename":"hda-duplex"}"#, #""query-cpu-definitions""#,
            #""qom-list-types","arguments":{"implements":"user-creatable","abstract":false}"#,
            #""query-cpu-model-expansion","arguments":{"type":"static","model":{"name":"max"}}"#, #""quit""#,
        ]
        let script = commands.enumerated().map { #"{"execute":\#($1),"id":\#($0)}"# }.joined(separator: "\n") + "\n"
        let result = try ChildProcess.run(
            path, ["-machine", "none"] + accel + (compat ? ["-compat", "deprecated-output=accept"] : []) + ["-nodefaults", "-nographic", "-display", "none", "-no-user-config", "-qmp", "stdio"],
            input: script, timeout: 60)
        let data = Data(result.standardOutput.utf8)
        var replies: [Int: Any] = [:]
        var replyLines: [Int: Data] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = object["id"] as? Int else { continue }
            replies[id] = object["return"]
            replyLines[id] = Data(line)
        }
        guard let version = replies[1] as? [String: Any], let qemu = version["qemu"] as? [String: Any],
            let major = qemu["major"] as? Int, let minor = qemu["minor"] as? Int, let micro = qemu["micro"] as? Int
        else {
            throw ProbeError(
                description: "no answer to query-version (exit status \(result.status))",
                refusedCompat: compat && result.standardError.contains("-compat"))
        }
        let machines = (replies[2] as? [[String: Any]] ?? []).flatMap { entry -> [EmulatorCapabilities.Machine] in
            guard let name = entry["name"] as? String, name != "none" else { return [] }
            let maxCPUs = entry["cpu-max"] as? Int ?? 1
            let isDefault = entry["is-default"] as? Bool ?? false
            // QEMU names the type (`qemu64-x86_64-cpu`, `qemu32-i386-cpu`); libvirt and -cpu
            // use the model.
            let cpuModel = (entry["default-cpu-type"] as? String).map { type in
                ["-x86_64-cpu", "-i386-cpu"].first(where: type.hasSuffix).map { String(type.dropLast($0.count)) } ?? type
            }
            var result = [EmulatorCapabilities.Machine(name: name, canonical: nil, maximumCPUs: maxCPUs, isDefault: isDefault, defaultCPUModel: cpuModel)]
            if let alias = entry["alias"] as? String {
                result.append(.init(name: alias, canonical: name, maximumCPUs: maxCPUs, isDefault: false, defaultCPUModel: cpuModel))
            }
            return result
        }.sorted { $0.name < $1.name }
        let kvm = replies[3] as? [String: Any]
        let kvmReported = (kvm?["enabled"] as? Bool ?? false) && (kvm?["present"] as? Bool ?? false)
        let kvmUsable = kvmReported && kvmWorks
        let groups = Set((replies[4] as? [[String: Any]] ?? []).compactMap { $0["option"] as? String }.filter { !$0.isEmpty })
        var capabilities = EmulatorCapabilities(
            path: path,
            // Each component bounded, so an odd reply cannot trap.
            version: UInt64(clamping: min(major, 999_999)) * 1_000_000 + UInt64(clamping: min(minor, 999)) * 1000 + UInt64(clamping: min(micro, 999)),
            machines: machines,
            kvmUsable: kvmUsable,
            configGroups: groups
        )
        capabilities.deviceTypes = Set((replies[5] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        capabilities.commands = Set((replies[6] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        let deviceAdd = (replies[7] as? [[String: Any]] ?? []).first { $0["name"] as? String == "device_add" && $0["meta-type"] as? String == "command" }
        capabilities.deviceAddFeatures = Set(deviceAdd?["features"] as? [String] ?? [])
        capabilities.soundCodecProperties = Set((replies[8] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        capabilities.acceptsCompatOption = compat
        capabilities.cpuModels = (replies[9] as? [[String: Any]] ?? []).compactMap { entry in
            guard let name = entry["name"] as? String else { return nil }
            let unavailable = entry["unavailable-features"] as? [Any] ?? []
            return EmulatorCapabilities.CPUModel(
                name: name, usable: unavailable.isEmpty, deprecated: entry["deprecated"] as? Bool ?? false, blockers: unavailable.compactMap { $0 as? String })
        }
        capabilities.objectTypes = Set((replies[10] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String })
        // Under the accelerator QEMU took: KVM when query-kvm says it is on.
        capabilities.hostCPU = replyLines[11].flatMap { EmulatorCapabilities.HostCPU.parse(replyLine: $0, accelerator: kvmReported ? "kvm" : "tcg") }
        return capabilities
    }
}

extension EmulatorProbe {
    /// Whether a KVM guest really executes: boots a 512-byte boot sector that writes "K" to the
    /// serial port. Some hosts (nested virtualisation) offer `/dev/kvm` and accept KVM guests
    /// that then barely run; those fall back to TCG.
    /// Whether the host's CPU flags include Intel VT-x (`vmx`) or AMD-V (`svm`). Some nested
    /// hosts offer a `/dev/kvm` without them: it runs a boot sector (and long mode) yet hangs
    /// a Linux kernel right after its real-mode setup, so such a KVM is not used.
    public static func hostAdvertisesHardwareVirtualization() -> Bool {
        hostAdvertisesHardwareVirtualization(cpuinfo: try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))
    }

    /// The same test on the text of `/proc/cpuinfo`.
    public static func hostAdvertisesHardwareVirtualization(cpuinfo: String?) -> Bool {
        guard let cpuinfo else { return false }
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            let flags = line.split(separator: ":", maxSplits: 1).last?.split(separator: " ") ?? []
            return flags.contains("vmx") || flags.contains("svm")
        }
        return false
    }

    static func kvmRunsGuestCode(emulator: String, timeout: Double = 3) -> Bool {
        let directory = NSTemporaryDirectory() + "corral-kvm-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)) != nil else { return false }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // mov dx, 0x3f8; mov al, 'K'; out dx, al; hlt; jmp hlt — then the boot signature.
        var sector = [UInt8](repeating: 0, count: 512)
        sector.replaceSubrange(0..<9, with: [0xBA, 0xF8, 0x03, 0xB0, 0x4B, 0xEE, 0xF4, 0xEB, 0xFD])
        sector[510] = 0x55
        sector[511] = 0xAA
        let disk = directory + "/boot.img", serial = directory + "/serial.out"
        guard FileManager.default.createFile(atPath: disk, contents: Data(sector)) else { return false }
        let arguments = ["-machine", "pc", "-accel", "kvm", "-m", "16", "-nodefaults", "-no-user-config", "-display", "none",
                         "-drive", "file=\(disk),format=raw,if=ide", "-serial", "file:\(serial)", "-no-reboot"]
        guard let process = try? ChildProcess.spawn(emulator, arguments, standardOutput: .null, standardError: .null) else { return false }
        // A QEMU whose vCPU is wedged in KVM may not answer SIGTERM: kill it.
        defer { process.signal(SIGKILL); process.wait() }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline && process.isRunning {
            if let data = FileManager.default.contents(atPath: serial), data.contains(UInt8(ascii: "K")) { return true }
            usleep(20_000)
        }
        return false
    }
}

/// 64-bit FNV-1a, for naming cache files.
struct FNV1a {
    var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ text: String) {
        for b in text.utf8 {
            value ^= UInt64(b)
            value = value &* 0x100_0000_01b3
        }
    }
}
