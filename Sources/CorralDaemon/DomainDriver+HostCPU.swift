import CorralProtocol
import DomainXML
import XMLTree

extension DomainDriver {
    /// A starting guest's `<cpu>` made concrete against its emulator's host model
    /// (``HostModelCPUUpdate``); as it is when libvirt's CPU map is not installed, and with only
    /// the features QEMU never had dropped when the host model is unknown (a `host-model` guest
    /// then runs `-cpu host` under KVM and is refused under TCG).
    nonisolated func hostModelCPU(_ cpu: XMLElement, definition: DomainDefinition) -> XMLElement {
        guard let map = GuestCPUFeatures.map else { return cpu }
        let emulator = emulators.serving(definition.devices.emulator)
        let host = HostModelCPUUpdate.needsHostModel(cpu) ? HostCPUModels.model(for: emulator, kvm: definition.type == .kvm) : nil
        return HostModelCPUUpdate.droppingFeaturesQEMUNeverHad(HostModelCPUUpdate.updated(cpu, host: host, map: map))
    }

    /// `cpu` with the mode, model, vendors and features of `element` (the rest, such as the
    /// topology and NUMA cells, is the definition's own); `cpu` when `element` does not read.
    static func takingModel(of element: XMLElement, into cpu: DomainDefinition.CPU?) -> DomainDefinition.CPU? {
        guard var cpu, let made = try? DomainDefinition.CPU(element: element) else { return cpu }
        cpu.mode = made.mode
        cpu.model = made.model
        cpu.vendor = made.vendor
        cpu.vendorID = made.vendorID
        cpu.features = made.features
        return cpu
    }
}

extension DomainDriver {
    /// libvirt's refusal of a guest CPU that asks for what the host model cannot give
    /// (``HostCPUCompatibility``); nothing when the host model is unknown.
    nonisolated func checkHostCPUCompatibility(_ cpu: XMLElement, definition: DomainDefinition) throws(RemoteError) {
        guard let map = GuestCPUFeatures.map, let host = HostCPUModels.model(for: emulators.serving(definition.devices.emulator), kvm: definition.type == .kvm),
            let problem = HostCPUCompatibility.incompatibility(of: cpu, host: host, map: map)
        else { return }
        throw RemoteError(code: .cpuIncompatible, domain: .cpu, detail: problem)
    }
}

extension DomainDriver {
    /// Whether the live update changed `asked` beyond marking it fully checked.
    static func madeOtherThanAsked(_ made: XMLElement, _ asked: XMLElement) -> Bool {
        var made = made
        made[attribute: "check"] = asked[attribute: "check"]
        return made != asked
    }
}

extension DomainDriver {
    /// An inactive definition's text with its `<cpu>` as libvirt writes it for
    /// `virsh dumpxml --update-cpu` (`VIR_DOMAIN_XML_UPDATE_CPU`): made concrete against the
    /// host model, the model's removed features disabled; `xml` itself when that changes
    /// nothing.
    nonisolated func updatingCPU(of xml: String) -> String {
        guard let map = GuestCPUFeatures.map, let parsed = try? DomainXMLParser.parse(xml, options: options), let cpu = parsed.document.element(named: "cpu") else { return xml }
        let mode = cpu[attribute: "mode"] ?? "custom"
        // libvirt leaves a CPU with only a topology, host-passthrough and maximum alone.
        guard mode == "host-model" || (mode == "custom" && !(cpu.element(named: "model")?.text ?? "").isEmpty) else { return xml }
        let host = HostModelCPUUpdate.needsHostModel(cpu) ? HostCPUModels.model(for: emulators.serving(parsed.definition.devices.emulator), kvm: parsed.definition.type == .kvm) : nil
        let updated = LiveCPUUpdate.disablingRemovedFeatures(HostModelCPUUpdate.updated(cpu, host: host, map: map), map: map)
        guard updated != cpu else { return xml }
        var document = parsed.document
        LiveDomainXML.replaceCPU(&document, with: updated)
        return DomainXMLFormatter.format(document)
    }
}
