import Foundation
public import Logging

/// What the configured emulator is and can do, learned by asking it over QMP once at start-up.
public struct EmulatorCapabilities: Sendable, Equatable {
    /// One machine type.
    public struct Machine: Sendable, Equatable {
        /// The name (`pc-q35-7.2`, or an alias such as `q35`).
        public var name: String
        /// The machine this name is an alias of, if it is one.
        public var canonical: String?
        /// The largest vCPU count.
        public var maximumCPUs: Int
        /// Whether this is the default machine.
        public var isDefault: Bool
    }

    /// The emulator's path.
    public var path: String
    /// The version as libvirt encodes it: major × 1,000,000 + minor × 1,000 + micro (0 = unknown).
    public var version: UInt64
    /// The machine types, in the order QEMU listed them (aliases included).
    public var machines: [Machine]
    /// Whether KVM is present and usable for this emulator.
    public var kvmUsable: Bool

    /// Capabilities for an emulator that could not be probed.
    public static func unknown(path: String) -> EmulatorCapabilities {
        EmulatorCapabilities(path: path, version: 0, machines: [], kvmUsable: false)
    }

    /// The version as `major.minor.micro`.
    public var versionString: String {
        "\(version / 1_000_000).\(version / 1000 % 1000).\(version % 1000)"
    }
}

/// Runs `EMULATOR -machine none -qmp stdio` and asks it for its version, machines and KVM state.
public enum EmulatorProbe {
    /// Probes `path`; on any failure logs why and returns ``EmulatorCapabilities/unknown(path:)``.
    public static func probe(path: String, logger: Logger) -> EmulatorCapabilities {
        do {
            let capabilities = try run(path: path)
            logger.info("probed emulator", metadata: ["path": "\(path)", "version": "\(capabilities.versionString)", "machines": "\(capabilities.machines.count)", "kvm": "\(capabilities.kvmUsable)"])
            return capabilities
        } catch {
            logger.warning("could not probe the emulator; its version will read as unknown", metadata: ["path": "\(path)", "error": "\(error)"])
            return .unknown(path: path)
        }
    }

    struct ProbeError: Error, CustomStringConvertible {
        var description: String
    }

    static func run(path: String) throws -> EmulatorCapabilities {
        guard FileManager.default.isExecutableFile(atPath: path) else { throw ProbeError(description: "\(path) is not an executable file") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        // `-accel kvm -accel tcg`: KVM when usable, TCG otherwise; query-kvm then says which.
        let accel = FileManager.default.isWritableFile(atPath: "/dev/kvm") ? ["-accel", "kvm", "-accel", "tcg"] : ["-accel", "tcg"]
        process.arguments = ["-machine", "none"] + accel + ["-nodefaults", "-nographic", "-display", "none", "-qmp", "stdio"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let commands = ["qmp_capabilities", "query-version", "query-machines", "query-kvm", "quit"]
        let script = commands.enumerated().map { #"{"execute":"\#($1)","id":\#($0)}"# }.joined(separator: "\n") + "\n"
        input.fileHandleForWriting.write(Data(script.utf8))
        try? input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var replies: [Int: Any] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = object["id"] as? Int else { continue }
            replies[id] = object["return"]
        }
        guard let version = replies[1] as? [String: Any], let qemu = version["qemu"] as? [String: Any],
            let major = qemu["major"] as? Int, let minor = qemu["minor"] as? Int, let micro = qemu["micro"] as? Int
        else { throw ProbeError(description: "no answer to query-version (exit status \(process.terminationStatus))") }
        let machines = (replies[2] as? [[String: Any]] ?? []).compactMap { entry -> [EmulatorCapabilities.Machine] in
            guard let name = entry["name"] as? String else { return [] }
            let maxCPUs = entry["cpu-max"] as? Int ?? 1
            let isDefault = entry["is-default"] as? Bool ?? false
            var result = [EmulatorCapabilities.Machine(name: name, canonical: nil, maximumCPUs: maxCPUs, isDefault: isDefault)]
            if let alias = entry["alias"] as? String {
                result.append(.init(name: alias, canonical: name, maximumCPUs: maxCPUs, isDefault: false))
            }
            return result
        }.flatMap { $0 }.filter { $0.name != "none" }
        let kvm = replies[3] as? [String: Any]
        let kvmUsable = (kvm?["enabled"] as? Bool ?? false) && (kvm?["present"] as? Bool ?? false)
        return EmulatorCapabilities(
            path: path,
            version: UInt64(major) * 1_000_000 + UInt64(minor) * 1000 + UInt64(micro),
            machines: machines,
            kvmUsable: kvmUsable
        )
    }
}
