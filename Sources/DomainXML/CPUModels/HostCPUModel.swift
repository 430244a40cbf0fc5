/// The CPU libvirt calls the host model for an emulator and accelerator: the named model of its
/// CPU map that describes the CPU QEMU can give a guest (its `max` CPU under TCG, `host` under
/// KVM) with the fewest listed features, plus the features that differ from it. A
/// `host-model` guest starts with this CPU, written out as a custom one, and
/// `virsh domcapabilities` lists it.
///
/// Found as libvirt finds it (`virQEMUCapsInitHostCPUModel`, `x86Decode`): from the
/// properties of QEMU's static expansion of that CPU, against the models QEMU offers.
public struct HostCPUModel: Sendable, Equatable {
    /// A feature listed beside the model: one the model lacks (`require`) or has and the host
    /// does not (`disable`).
    public struct Feature: Sendable, Equatable {
        public var name: String
        public var required: Bool

        public init(name: String, required: Bool) {
            self.name = name
            self.required = required
        }
    }

    /// What QEMU says of the CPU it can give a guest (`query-cpu-model-expansion`, static).
    public struct Probe: Sendable, Equatable {
        /// The boolean properties that are on, in QEMU's spelling.
        public var enabledProperties: [String]
        /// The CPUID vendor string (`AuthenticAMD`).
        public var vendorString: String?
        public var family: UInt32
        public var model: UInt32
        public var stepping: UInt32

        public init(enabledProperties: [String], vendorString: String?, family: UInt32, model: UInt32, stepping: UInt32) {
            self.enabledProperties = enabledProperties
            self.vendorString = vendorString
            self.family = family
            self.model = model
            self.stepping = stepping
        }
    }

    /// The map's model (`EPYC`).
    public var model: String
    /// The map's vendor name (`AMD`), when the vendor string is one the map knows.
    public var vendor: String?
    /// In libvirt's order: the required ones in the map's order, then the disabled ones, then
    /// the model's features QEMU removed from it.
    public var features: [Feature]
    /// The host CPU's feature bits, which decide a guest's `optional` features.
    public var data: X86CPUIDData

    /// The host model for `probe`, choosing among `offered` (QEMU's CPU models by name, each
    /// with the features that keep it from running here, in QEMU's spelling; `nil` for every
    /// model in the map); `nil` when no model fits.
    public static func decode(_ probe: Probe, map: X86CPUMap, offered: [String: [String]]?) -> HostCPUModel? {
        var data = X86CPUIDData()
        for property in probe.enabledProperties {
            if let feature = map.feature(named: X86FeatureNames.libvirt(fromQEMU: property)) { data.add(feature.cpuid) }
        }
        let vendor = probe.vendorString.flatMap(map.vendor(string:))
        // TSX is broken on these Intel CPUs (libvirt's x86DataFilterTSX).
        if vendor?.name == "Intel", probe.family == 6, (probe.model == 63 && probe.stepping < 4) || [60, 69, 70].contains(probe.model) {
            for name in ["hle", "rtm"] { if let feature = map.feature(named: name) { data.subtract(feature.cpuid) } }
        }
        var best: (model: X86CPUMap.Model, features: [Feature])?
        // Newest models first.
        for name in map.modelOrder.reversed() {
            guard let candidate = map.models[name] else { continue }
            var blockers: [String] = []
            if let offered {
                guard let offeredBlockers = offered[name] else { continue }
                blockers = offeredBlockers
            }
            if let vendor, let candidateVendor = candidate.vendor, candidateVendor != vendor.name { continue }
            guard candidate.decodesGuest else { continue }
            let features = Self.features(of: data, against: candidate, blockers: blockers, map: map)
            guard let current = best else {
                best = (candidate, features)
                continue
            }
            let currentMatches = current.model.signatures.contains { $0.matches(family: probe.family, model: probe.model, stepping: probe.stepping) }
            let candidateMatches = candidate.signatures.contains { $0.matches(family: probe.family, model: probe.model, stepping: probe.stepping) }
            if currentMatches && !candidateMatches { continue }
            if !currentMatches && candidateMatches || Self.listsFewer(features, than: current.features) {
                best = (candidate, features)
            }
        }
        guard let best else { return nil }
        return HostCPUModel(model: best.model.name, vendor: vendor?.name, features: best.features, data: data)
    }

    /// The features `data` has beyond `model` (required) and lacks of it (disabled), in the
    /// map's order; each blocker the host does not add beyond the model is disabled too; then
    /// the model's removed features not yet listed, disabled (libvirt's `x86DataToCPU`).
    static func features(of data: X86CPUIDData, against model: X86CPUMap.Model, blockers: [String], map: X86CPUMap) -> [Feature] {
        var extra = data
        extra.subtract(model.cpuid)
        var missing = model.cpuid
        missing.subtract(data)
        for blocker in blockers {
            if let feature = map.feature(named: X86FeatureNames.libvirt(fromQEMU: blocker)), !extra.contains(feature.cpuid) { missing.add(feature.cpuid) }
        }
        var listed: [Feature] = []
        for (bits, required) in [(extra, true), (missing, false)] {
            var remaining = bits
            for feature in map.features where !feature.cpuid.isEmpty && remaining.contains(feature.cpuid) {
                remaining.subtract(feature.cpuid)
                listed.append(Feature(name: feature.name, required: required))
            }
        }
        for removed in model.removedFeatures where !listed.contains(where: { $0.name == removed }) {
            listed.append(Feature(name: removed, required: false))
        }
        return listed
    }

    /// Whether `candidate` describes the CPU with fewer features than `current`, disabled ones
    /// weighing more (libvirt's `virCPUx86CompareCandidateFeatureList` for a guest CPU, whose
    /// count of disabled features stops halfway through them; kept so the same model wins).
    static func listsFewer(_ candidate: [Feature], than current: [Feature]) -> Bool {
        func weight(_ features: [Feature]) -> (total: Int, disabled: Int) {
            var enabled = features.count, disabled = 0, penalty = 2, index = 0
            while index < enabled {
                if !features[index].required {
                    enabled -= 1
                    disabled += penalty
                    penalty += 1
                }
                index += 1
            }
            return (enabled + disabled, disabled)
        }
        let (candidateTotal, candidateDisabled) = weight(candidate)
        let (currentTotal, currentDisabled) = weight(current)
        return candidateTotal < currentTotal || (candidateTotal == currentTotal && candidateDisabled < currentDisabled)
    }
}
