public import XMLTree

/// A starting guest's `<cpu>` made concrete against the host model, as libvirt makes it
/// (`virCPUUpdate`, `x86UpdateHostModel`, then `virQEMUCapsCPUFilterFeatures`):
///
/// - `host-model`, or a custom CPU with `match='minimum'`, becomes a custom CPU with
///   `match='exact'`: the host model's model, vendor and features, then the guest's own
///   features over them (a listed feature takes the guest's policy, others are added);
///   a `host-model` guest takes the host's vendor, a custom one keeps its own; `vendor_id` stays;
/// - an `optional` feature becomes `require` where the host has it, `disable` where not;
/// - before a start, the features QEMU never had are dropped (`cmt`, `mbm_total`, `mbm_local`,
///   `osxsave`, `ospke`).
public enum HostModelCPUUpdate {
    /// Whether `cpu` depends on the host model: libvirt's "relative" update.
    public static func needsHostModel(_ cpu: XMLElement) -> Bool {
        switch cpu[attribute: "mode"] ?? "custom" {
        case "host-model": true
        case "custom":
            cpu[attribute: "match"] == "minimum" || cpu.elements(named: "feature").contains { $0[attribute: "policy"] == "optional" }
        default: false
        }
    }

    /// `cpu` made concrete against `host` (a CPU that does not depend on the host model, or
    /// with no host model known, as it is).
    public static func updated(_ cpu: XMLElement, host: HostCPUModel?, map: X86CPUMap) -> XMLElement {
        guard let host, needsHostModel(cpu) else { return cpu }
        var updated = cpu
        updated.updateElements { element in
            guard element.name == "feature", element.namespace == nil, element[attribute: "policy"] == "optional", let name = element[attribute: "name"] else { return }
            guard let feature = map.feature(named: name) else { return }
            element[attribute: "policy"] = host.data.contains(feature.cpuid) ? "require" : "disable"
        }
        let mode = cpu[attribute: "mode"] ?? "custom"
        if mode == "host-model" || cpu[attribute: "match"] == "minimum" {
            updated = hostModel(host, under: updated, keepsVendor: mode == "custom")
        }
        return updated
    }

    /// `cpu` without the features QEMU never had, as libvirt drops them before a start; a
    /// `host-passthrough` or `maximum` CPU as it is.
    public static func droppingFeaturesQEMUNeverHad(_ cpu: XMLElement) -> XMLElement {
        guard ["host-model", "custom"].contains(cpu[attribute: "mode"] ?? "custom") else { return cpu }
        var kept = cpu
        kept.children.removeAll { child in
            guard case .element(let element) = child, element.name == "feature", element.namespace == nil, let name = element[attribute: "name"] else { return false }
            return X86FeatureNames.droppedAtStart.contains(name)
        }
        return kept
    }

    /// The host model written as a custom CPU carrying `guest`'s other settings (its check,
    /// topology, cache, NUMA cells) and its features over the host's.
    static func hostModel(_ host: HostCPUModel, under guest: XMLElement, keepsVendor: Bool) -> XMLElement {
        var cpu = XMLElement(name: "cpu", attributes: guest.attributes.filter { $0.name != "mode" && $0.name != "match" })
        cpu.attributes.insert(contentsOf: [XMLAttribute(name: "mode", value: "custom"), XMLAttribute(name: "match", value: "exact")], at: 0)
        // The guest's fallback (libvirt forbids it only once the guest starts).
        let fallback = guest.element(named: "model")?[attribute: "fallback"] ?? "allow"
        var model = XMLElement(name: "model", attributes: [XMLAttribute(name: "fallback", value: fallback)], children: [.text(host.model)])
        if let vendorID = guest.element(named: "model")?[attribute: "vendor_id"] { model.attributes.append(XMLAttribute(name: "vendor_id", value: vendorID)) }
        cpu.children.append(.element(model))
        let guestVendor = guest.element(named: "vendor")
        if keepsVendor, let guestVendor {
            cpu.children.append(.element(guestVendor))
        } else if !keepsVendor, let vendor = host.vendor {
            cpu.children.append(.element(XMLElement(name: "vendor", children: [.text(vendor)])))
        }
        for child in guest.children {
            guard case .element(let element) = child, element.namespace != nil || !["model", "vendor", "feature"].contains(element.name) else { continue }
            cpu.children.append(child)
        }
        for feature in host.features {
            LiveCPUUpdate.setFeature(&cpu, feature.name, policy: feature.required ? "require" : "disable")
        }
        for feature in guest.elements(named: "feature") {
            guard let name = feature[attribute: "name"] else { continue }
            LiveCPUUpdate.setFeature(&cpu, name, policy: feature[attribute: "policy"] ?? "require")
        }
        return cpu
    }
}
