public import XMLTree

/// How a CPU compares with the host model, as libvirt compares them (`x86Compute`): before a
/// start (`virCPUCheckForbiddenFeatures` where `check` is not `none`, then `virCPUCompare`
/// where it is `partial`) and for `virsh hypervisor-cpu-compare`, with libvirt's messages.
public enum HostCPUCompatibility {
    /// The outcome of a comparison (libvirt's `virCPUCompareResult`).
    public enum Comparison: Equatable, Sendable {
        /// The host cannot run the CPU, and why.
        case incompatible(String)
        /// The host model is the CPU exactly.
        case identical
        /// The host model has more than the CPU asks for.
        case superset

        /// `VIR_CPU_COMPARE_INCOMPATIBLE`, `_IDENTICAL`, `_SUPERSET`.
        public var code: Int32 {
            switch self {
            case .incompatible: 0
            case .identical: 1
            case .superset: 2
            }
        }
    }

    /// A CPU description the map cannot read: its model or a feature is unknown (libvirt's
    /// internal error).
    public struct UnknownName: Error, Equatable, Sendable, CustomStringConvertible {
        public var description: String

        public init(description: String) { self.description = description }
    }

    /// A CPU to compare: a guest's `<cpu>`, or a host's (one with `<arch>`, whose features
    /// have no policy and are all required).
    public struct Described: Sendable {
        public var arch: String?
        public var vendor: String?
        public var model: String?
        /// Names and policies (`require`, `force`, `optional`, `disable`, `forbid`).
        public var features: [(name: String, policy: String)]
        /// `match='strict'`: the host may have nothing beyond what is asked.
        public var strict: Bool

        /// The description a `<cpu>` element gives.
        public init(_ cpu: XMLElement) {
            let isHost = cpu.element(named: "arch") != nil
            arch = cpu.element(named: "arch")?.text
            vendor = cpu.element(named: "vendor")?.text
            let name = X86CPUMap.modelName(cpu.element(named: "model")?.text ?? "")
            model = name.isEmpty ? nil : name
            features = cpu.elements(named: "feature").compactMap { element in
                element[attribute: "name"].map { ($0, isHost ? "require" : element[attribute: "policy"] ?? "require") }
            }
            strict = !isHost && cpu[attribute: "match"] == "strict"
        }
    }

    /// Why `cpu` cannot run on `host` before a start; `nil` when it can, when its check does
    /// not ask, or when the map does not know its model or one of its features (nothing is
    /// compared then; QEMU's refusal stays the message).
    public static func incompatibility(of cpu: XMLElement, host: HostCPUModel, map: X86CPUMap) -> String? {
        let mode = cpu[attribute: "mode"] ?? "custom"
        let check = cpu[attribute: "check"] ?? "none"
        guard mode == "custom" || mode == "host-model", check != "none" else { return nil }
        let described = Described(cpu)
        // A forbidden feature the host model lists as present.
        for feature in described.features where feature.policy == "forbid" {
            if let listed = host.features.first(where: { $0.name == feature.name }), listed.required {
                return "Host CPU provides forbidden feature '\(feature.name)'"
            }
        }
        guard check == "partial", case .incompatible(let reason)? = try? compare(described, with: host, map: map) else { return nil }
        return reason
    }

    /// How `cpu` compares with `host` (libvirt's `x86Compute`, in its order: the architecture,
    /// the vendor, forbidden features the host has, required features it lacks, and for a
    /// strict match features it has beyond them).
    public static func compare(_ cpu: Described, with host: HostCPUModel, map: X86CPUMap) throws(UnknownName) -> Comparison {
        if let arch = cpu.arch, !["x86_64", "i686"].contains(arch) { return .incompatible("CPU arch \(arch) does not match host arch") }
        if let vendor = cpu.vendor, vendor != host.vendor {
            return .incompatible("host CPU vendor does not match required CPU vendor \(vendor)")
        }
        var byPolicy: [String: X86CPUIDData] = [:]
        if let model = cpu.model {
            guard let known = map.model(named: model) else { throw UnknownName(description: "Unknown CPU model \(model)") }
            byPolicy["require"] = known.cpuid
        }
        for feature in cpu.features {
            guard let known = map.feature(named: feature.name) else { throw UnknownName(description: "Unknown CPU feature \(feature.name)") }
            byPolicy[feature.policy, default: X86CPUIDData()].add(known.cpuid)
        }
        let provided = (byPolicy["forbid"] ?? X86CPUIDData()).intersection(host.data)
        if !provided.isEmpty { return .incompatible("Host CPU provides forbidden features: \(names(in: provided, map: map))") }
        // The model's features the CPU forces, makes optional or disables are not required.
        var required = byPolicy["require"] ?? X86CPUIDData()
        for policy in ["force", "optional", "disable"] { required.subtract(byPolicy[policy] ?? X86CPUIDData()) }
        var missing = required
        missing.subtract(host.data)
        if !missing.isEmpty { return .incompatible("Host CPU does not provide required features: \(names(in: missing, map: map))") }
        var extra = host.data
        for policy in ["optional", "require", "disable", "force"] { extra.subtract(byPolicy[policy] ?? X86CPUIDData()) }
        if extra.isEmpty { return .identical }
        if cpu.strict { return .incompatible("Host CPU does not strictly match guest CPU: Extra features: \(names(in: extra, map: map))") }
        return .superset
    }

    /// The map's features wholly within `data`, in the map's order (libvirt's
    /// `x86FeatureNames`).
    static func names(in data: X86CPUIDData, map: X86CPUMap) -> String {
        map.features.filter { !$0.cpuid.isEmpty && data.contains($0.cpuid) }.map(\.name).joined(separator: ", ")
    }
}
