public import XMLTree

/// A running guest's `<cpu>` as libvirt writes it once QEMU has made the vCPUs
/// (`virCPUx86UpdateLive`): every feature QEMU enabled beyond what the model and the definition
/// ask for is listed as `require`, every one asked for (or in the model) that QEMU left out or
/// filtered as `disable`, the model's removed features as `disable`, and `check='full'`.
///
/// Features defined by MSRs are left as they are: Corral reads the vCPU's CPUID words
/// (`feature-words`, `filtered-features`: two QMP calls, where libvirt reads each of QEMU's
/// hundreds of feature properties), which do not hold them.
public enum LiveCPUUpdate {
    /// A definition with `check='full'` whose CPU QEMU did not make as asked: the start fails
    /// with libvirt's message.
    public struct Mismatch: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// `cpu` updated from the vCPU's enabled and filtered CPUID bits; `nil` when libvirt leaves
    /// it alone (`host-model`, a custom CPU without a model) or the map does not know its model
    /// or one of its features.
    public static func updated(
        _ cpu: XMLElement, enabled: X86CPUIDData, disabled: X86CPUIDData, map: X86CPUMap
    ) throws(Mismatch) -> XMLElement? {
        let mode = cpu[attribute: "mode"] ?? "custom"
        // libvirt's virCPUUpdateLive: a custom CPU, or one that asks to be checked fully.
        guard mode != "host-model", mode == "custom" || cpu[attribute: "check"] == "full" else { return nil }
        let hostPassthrough = mode == "host-passthrough" || mode == "maximum"
        let modelName = X86CPUMap.modelName(cpu.element(named: "model")?.text ?? "")
        if mode == "custom" && modelName.isEmpty { return nil }
        var model = X86CPUIDData(), modelDisabled = X86CPUIDData()
        var removedFeatures: [String] = []
        if !hostPassthrough {
            guard let known = map.model(named: modelName) else { return nil }
            model = known.cpuid
            removedFeatures = known.removedFeatures
        }
        for element in cpu.elements(named: "feature") {
            guard let name = element[attribute: "name"], let feature = map.feature(named: name) else { return nil }
            switch element[attribute: "policy"] ?? "require" {
            case "require", "force": model.add(feature.cpuid)
            case "disable", "forbid":
                model.subtract(feature.cpuid)
                modelDisabled.add(feature.cpuid)
            default: continue
            }
        }
        let checksFully = cpu[attribute: "check"] == "full"
        var updated = cpu, added: [String] = [], missing: [String] = []
        for feature in map.features where !feature.isMSR && !feature.cpuid.isEmpty {
            let expectedRequired = model.contains(feature.cpuid)
            let expectedDisabled = !expectedRequired && (!hostPassthrough || modelDisabled.contains(feature.cpuid))
            if expectedDisabled && enabled.contains(feature.cpuid) {
                if checksFully { added.append(feature.name) } else { setFeature(&updated, feature.name, policy: "require") }
            }
            if disabled.contains(feature.cpuid) || (expectedRequired && !enabled.contains(feature.cpuid)) {
                if checksFully { missing.append(feature.name) } else { setFeature(&updated, feature.name, policy: "disable") }
            }
        }
        for name in removedFeatures where !updated.elements(named: "feature").contains(where: { $0[attribute: "name"] == name }) {
            setFeature(&updated, name, policy: "disable")
        }
        switch (added.isEmpty, missing.isEmpty) {
        case (false, false):
            throw Mismatch(description: "guest CPU doesn't match specification: extra features: \(added.joined(separator: ",")), missing features: \(missing.joined(separator: ","))")
        case (false, true): throw Mismatch(description: "guest CPU doesn't match specification: extra features: \(added.joined(separator: ","))")
        case (true, false): throw Mismatch(description: "guest CPU doesn't match specification: missing features: \(missing.joined(separator: ","))")
        case (true, true): break
        }
        if checksFully && !disabled.isEmpty { throw Mismatch(description: "guest CPU doesn't match specification") }
        updated[attribute: "check"] = "full"
        return updated
    }

    /// A custom CPU with each feature QEMU removed from its model (`removed='yes'` in the map)
    /// listed as disabled, as libvirt lists them when it starts the guest (`virCPUx86Update`);
    /// `cpu` itself when there is nothing to add.
    public static func disablingRemovedFeatures(_ cpu: XMLElement, map: X86CPUMap) -> XMLElement {
        guard (cpu[attribute: "mode"] ?? "custom") == "custom", let model = cpu.element(named: "model").flatMap({ map.model(named: $0.text) }) else { return cpu }
        var updated = cpu
        for removed in model.removedFeatures where !updated.elements(named: "feature").contains(where: { $0[attribute: "name"] == removed }) {
            setFeature(&updated, removed, policy: "disable")
        }
        return updated
    }

    /// Sets a listed feature's policy, or lists it (after the other features, before `<numa>`,
    /// where libvirt writes features).
    static func setFeature(_ cpu: inout XMLElement, _ name: String, policy: String) {
        var found = false
        cpu.updateElements { element in
            guard !found, element.name == "feature", element.namespace == nil, element[attribute: "name"] == name else { return }
            element[attribute: "policy"] = policy
            found = true
        }
        guard !found else { return }
        let feature = XMLElement(name: "feature", attributes: [XMLAttribute(name: "policy", value: policy), XMLAttribute(name: "name", value: name)])
        let numa = cpu.children.firstIndex { if case .element(let e) = $0, e.name == "numa", e.namespace == nil { true } else { false } }
        cpu.children.insert(.element(feature), at: numa ?? cpu.children.endIndex)
    }
}
