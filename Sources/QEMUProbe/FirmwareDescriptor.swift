public import Foundation

/// A firmware image as QEMU's firmware interop specification describes it
/// (`docs/interop/firmware.json`): the JSON files distributions install in
/// `/usr/share/qemu/firmware`, which libvirt reads to pick a guest's firmware for
/// `<os firmware='efi'>`.
public struct FirmwareDescriptor: Hashable, Sendable {
    /// The file it was read from.
    public var file: String
    /// `interface-types`: `uefi`, `bios`, …
    public var interfaceTypes: [String]
    /// The code image (`mapping.executable.filename`) of a flash mapping.
    public var executable: String
    /// The template of the variable store (`mapping.nvram-template.filename`), if the firmware has one.
    public var nvramTemplate: String?
    /// `targets`: architecture and machine-type globs.
    public var targets: [(architecture: String, machines: [String])]
    /// `features`: `secure-boot`, `enrolled-keys`, `requires-smm`, `acpi-s3`, …
    public var features: Set<String>
    /// `mapping.mode`: how the flash holds the variable store.
    public var mode: FlashMode = .split

    /// `mapping.mode` of a flash mapping (the specification's `FirmwareFlashMode`).
    public enum FlashMode: String, Hashable, Sendable {
        /// Code and variable store in two images (the default).
        case split
        /// One image holds both.
        case combined
        /// Code only: the firmware keeps no variables (`<loader stateless='yes'>`).
        case stateless
    }

    public static func == (lhs: FirmwareDescriptor, rhs: FirmwareDescriptor) -> Bool { lhs.file == rhs.file }
    public func hash(into hasher: inout Hasher) { hasher.combine(file) }

    /// Whether the firmware needs System Management Mode (a Secure Boot build).
    public var requiresSMM: Bool { features.contains("requires-smm") }

    /// Whether it runs `architecture` guests of `machine` (a full machine name, `pc-q35-7.2`).
    public func supports(architecture: String, machine: String) -> Bool {
        targets.contains { target in
            target.architecture == architecture && target.machines.contains { fnmatch($0, machine, 0) == 0 }
        }
    }

    /// Reads one descriptor; `nil` for one that is not a flash mapping Corral can use (memory or
    /// kernel mappings, which are for other architectures and confidential guests).
    public static func parse(_ data: Data, file: String) -> FirmwareDescriptor? {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let mapping = object["mapping"] as? [String: Any], mapping["device"] as? String == "flash",
            let executable = (mapping["executable"] as? [String: Any])?["filename"] as? String
        else { return nil }
        let template = (mapping["nvram-template"] as? [String: Any])?["filename"] as? String
        guard let mode = FlashMode(rawValue: mapping["mode"] as? String ?? FlashMode.split.rawValue) else { return nil }
        let targets = (object["targets"] as? [[String: Any]] ?? []).compactMap { target -> (String, [String])? in
            guard let architecture = target["architecture"] as? String else { return nil }
            return (architecture, target["machines"] as? [String] ?? [])
        }
        return FirmwareDescriptor(
            file: file, interfaceTypes: object["interface-types"] as? [String] ?? [], executable: executable, nvramTemplate: template,
            targets: targets.map { (architecture: $0.0, machines: $0.1) }, features: Set(object["features"] as? [String] ?? []), mode: mode)
    }

    /// The directories searched, most important first: a file in an earlier directory hides
    /// one of the same name in a later one (the specification's rule).
    public static let searchDirectories = ["/etc/qemu/firmware", "/usr/share/qemu/firmware"]

    /// The host's descriptors in the specification's order (by file name across the
    /// directories); files that cannot be read or used are skipped.
    public static func installed(in directories: [String] = searchDirectories) -> [FirmwareDescriptor] {
        var byName: [String: String] = [:]
        for directory in directories.reversed() {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".json") {
                byName[name] = directory + "/" + name
            }
        }
        return byName.keys.sorted().compactMap { name in
            let path = byName[name]!
            // A descriptor is small; an empty file masks one of the same name (the specification's rule).
            guard let data = FileManager.default.contents(atPath: path), !data.isEmpty, data.count < 1 << 20 else { return nil }
            return parse(data, file: path)
        }
    }

    /// The first descriptor (in order) that gives a `uefi` firmware for the guest, honouring
    /// `<firmware><feature>` requirements (`required`: must have; `excluded`: must not have) and
    /// a guest whose SMM is switched off (no firmware that needs it); a `stateless` guest takes
    /// only a stateless flash, any other only a split one (libvirt's rule).
    public static func selectUEFI(
        from descriptors: [FirmwareDescriptor], architecture: String, machine: String, required: Set<String>, excluded: Set<String>, smmOff: Bool,
        stateless: Bool = false
    ) -> FirmwareDescriptor? {
        descriptors.first { descriptor in
            descriptor.interfaceTypes.contains("uefi") && descriptor.supports(architecture: architecture, machine: machine)
                && descriptor.mode == (stateless ? .stateless : .split)
                && required.isSubset(of: descriptor.features) && excluded.isDisjoint(with: descriptor.features) && !(smmOff && descriptor.requiresSMM)
        }
    }
}
