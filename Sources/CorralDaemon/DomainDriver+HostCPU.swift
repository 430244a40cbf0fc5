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
        return HostModelCPUUpdate.updated(cpu, host: host, map: map)
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
