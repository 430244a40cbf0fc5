public import XMLTree

/// Whether a guest CPU asks for what the host model cannot give, checked as libvirt checks it
/// before a start (`virCPUCheckForbiddenFeatures` where `check` is not `none`, then
/// `virCPUCompare` where it is `partial`), with libvirt's messages.
public enum HostCPUCompatibility {
    /// Why `cpu` cannot run on `host`; `nil` when it can, when its check does not ask, or
    /// when the map does not know its model or one of its features (nothing is compared then).
    public static func incompatibility(of cpu: XMLElement, host: HostCPUModel, map: X86CPUMap) -> String? {
        let mode = cpu[attribute: "mode"] ?? "custom"
        let check = cpu[attribute: "check"] ?? "none"
        guard mode == "custom" || mode == "host-model", check != "none" else { return nil }
        let features = cpu.elements(named: "feature").compactMap { element in element[attribute: "name"].map { ($0, element[attribute: "policy"] ?? "require") } }
        // A forbidden feature the host model lists as present.
        for (name, policy) in features where policy == "forbid" {
            if let listed = host.features.first(where: { $0.name == name }), listed.required {
                return "Host CPU provides forbidden feature '\(name)'"
            }
        }
        guard check == "partial" else { return nil }
        if let vendor = cpu.element(named: "vendor")?.text, vendor != host.vendor {
            return "host CPU vendor does not match required CPU vendor \(vendor)"
        }
        var required = X86CPUIDData()
        let modelName = X86CPUMap.modelName(cpu.element(named: "model")?.text ?? "")
        if !modelName.isEmpty {
            guard let model = map.model(named: modelName) else { return nil }
            required = model.cpuid
        }
        var forbidden = X86CPUIDData(), notRequired = X86CPUIDData()
        for (name, policy) in features {
            guard let feature = map.feature(named: name) else { return nil }
            switch policy {
            case "require": required.add(feature.cpuid)
            // A forbidden feature of the model stays required (so a host without it fails).
            case "forbid": forbidden.add(feature.cpuid)
            default: notRequired.add(feature.cpuid)
            }
        }
        let provided = forbidden.intersection(host.data)
        if !provided.isEmpty { return "Host CPU provides forbidden features: \(names(in: provided, map: map))" }
        required.subtract(notRequired)
        var missing = required
        missing.subtract(host.data)
        if !missing.isEmpty { return "Host CPU does not provide required features: \(names(in: missing, map: map))" }
        return nil
    }

    /// The map's features wholly within `data`, in the map's order (libvirt's
    /// `x86FeatureNames`).
    static func names(in data: X86CPUIDData, map: X86CPUMap) -> String {
        map.features.filter { !$0.cpuid.isEmpty && data.contains($0.cpuid) }.map(\.name).joined(separator: ", ")
    }
}
