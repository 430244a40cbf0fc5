import XMLTree

extension DomainNormalizer {
    /// `<cpu>` as libvirt completes it at define:
    /// - a guest without a CPU model gets the machine's default one (QEMU's `default-cpu-type`,
    ///   `qemu64` on x86), written `mode='custom' match='exact' check='none'` with
    ///   `fallback='forbid'`, which is what QEMU would use anyway;
    /// - `mode` is always written; a custom model gets `match='exact'` and `fallback='allow'`;
    /// - `check` is `none` for host-passthrough and maximum, `partial` for host-model, and for a
    ///   custom model `none` under TCG, `partial` under KVM;
    /// - host-passthrough is `migratable='on'` unless it says otherwise;
    /// - attributes and children in libvirt's order.
    static func normalizeCPU(_ root: inout XMLElement, options: DomainXMLOptions) {
        let type = root.element(named: "os")?.element(named: "type")
        let machine = type?[attribute: "machine"] ?? ""
        let arch = type?[attribute: "arch"] ?? "x86_64"
        let existing = root.element(named: "cpu")
        let mode = existing?[attribute: "mode"] ?? "custom"
        let hasModel = existing?.element(named: "model").map { !$0.text.trimmingWhitespace().isEmpty } ?? false
        let defaultModels = arch == "x86_64"
            ? options.defaultCPUModels : options.defaults(arch: arch, emulator: root.element(named: "devices")?.element(named: "emulator")?.text).defaultCPUModels
        if mode == "custom", !hasModel, let model = defaultModels[machine] {
            if existing == nil { root.children.append(.element(element("cpu"))) }
            update(&root, "cpu") { cpu in
                cpu[attribute: "mode"] = "custom"
                cpu[attribute: "match"] = "exact"
                cpu[attribute: "check"] = "none"
                cpu.children.removeAll { if case .element(let e) = $0 { return e.name == "model" && e.namespace == nil } else { return false } }
                cpu.children.insert(.element(element("model", [("fallback", "forbid")], text: model)), at: 0)
            }
        }
        guard root.element(named: "cpu") != nil else { return }
        let tcg = root[attribute: "type"] == "qemu"
        update(&root, "cpu") { cpu in
            if cpu[attribute: "mode"] == nil { cpu[attribute: "mode"] = "custom" }
            let mode = cpu[attribute: "mode"] ?? "custom"
            let model = cpu.element(named: "model").map { !$0.text.trimmingWhitespace().isEmpty } ?? false
            if mode == "custom" && model {
                if cpu[attribute: "match"] == nil { cpu[attribute: "match"] = "exact" }
                cpu.updateElements { if $0.name == "model" && $0.namespace == nil && $0[attribute: "fallback"] == nil { $0[attribute: "fallback"] = "allow" } }
            }
            if cpu[attribute: "check"] == nil && (mode != "custom" || model) {
                switch mode {
                case "host-passthrough", "maximum": cpu[attribute: "check"] = "none"
                case "host-model": cpu[attribute: "check"] = "partial"
                default: cpu[attribute: "check"] = tcg ? "none" : "partial"
                }
            }
            if mode == "host-passthrough" && cpu[attribute: "migratable"] == nil { cpu[attribute: "migratable"] = "on" }
            orderAttributes(&cpu, ["mode", "match", "check", "migratable"])
            cpu.updateElements { child in
                guard child.namespace == nil else { return }
                switch child.name {
                case "model": orderAttributes(&child, ["fallback", "vendor_id"])
                case "cache": orderAttributes(&child, ["level", "mode"])
                case "maxphysaddr": orderAttributes(&child, ["mode", "bits"])
                case "topology": orderAttributes(&child, ["sockets", "dies", "clusters", "cores", "threads"])
                case "feature": orderAttributes(&child, ["policy", "name"])
                case "numa":
                    child.updateElements { cell in
                        if cell.name == "cell" { orderAttributes(&cell, ["id", "cpus", "memory", "unit", "discard", "memAccess"]) }
                    }
                default: break
                }
            }
            cpu.children = ordered(cpu.children, by: ["model", "vendor", "topology", "cache", "maxphysaddr", "feature", "numa"])
        }
    }

    /// The attributes of `element` in `order` (stable); others keep their order after them.
    /// Attributes already in order are left as they are (no copy of the element): this runs on
    /// most elements of every define, and `order` is a handful of names, so a linear search
    /// beats building a dictionary.
    static func orderAttributes(_ element: inout XMLElement, _ order: [String]) {
        guard element.attributes.count > 1 else { return }
        func rank(_ name: String) -> Int { order.firstIndex(of: name) ?? order.count }
        var previous = -1, inOrder = true
        for attribute in element.attributes {
            let current = rank(attribute.name)
            if current < previous { inOrder = false; break }
            previous = current
        }
        guard !inOrder else { return }
        element.attributes = element.attributes.enumerated().map { (rank: rank($1.name), offset: $0, attribute: $1) }
            .sorted { ($0.rank, $0.offset) < ($1.rank, $1.offset) }
            .map(\.attribute)
    }
}
