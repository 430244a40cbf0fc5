import CorralProtocol
import DomainXML
import Foundation
import XMLTree

extension DomainDriver {
    /// The host model of the emulator and accelerator `definition` runs on (``HostCPUModels``).
    nonisolated func hostCPUModel(for definition: DomainDefinition) -> HostCPUModel? {
        HostCPUModels.model(for: emulators.serving(definition.devices.emulator), kvm: definition.type == .kvm)
    }

    /// The options a starting guest's own document is read with: its devices in the order it
    /// names them (the live XML is made from it).
    nonisolated var startDocumentOptions: DomainXMLOptions {
        var own = options
        own.keepsControllerOrder = true
        return own
    }

    /// A starting guest's `<cpu>` made concrete against its emulator's host model
    /// (``HostModelCPUUpdate``); as it is when libvirt's CPU map is not installed, and with only
    /// the features QEMU never had dropped when the host model is unknown (a `host-model` guest
    /// then runs `-cpu host` under KVM and is refused under TCG).
    nonisolated func hostModelCPU(_ cpu: XMLElement, definition: DomainDefinition) -> XMLElement {
        guard let map = GuestCPUFeatures.map else { return cpu }
        let host = HostModelCPUUpdate.needsHostModel(cpu) ? hostCPUModel(for: definition) : nil
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
        guard let map = GuestCPUFeatures.map, let host = hostCPUModel(for: definition),
            let problem = HostCPUCompatibility.incompatibility(of: cpu, host: host, map: map)
        else { return }
        throw RemoteError(code: .cpuIncompatible, domain: .cpu, detail: problem)
    }
}

extension DomainDriver {
    /// An inactive definition's text with its `<cpu>` as libvirt writes it for
    /// `virsh dumpxml --update-cpu` (`VIR_DOMAIN_XML_UPDATE_CPU`): made concrete against the
    /// host model, the model's removed features disabled; `xml` itself when that changes
    /// nothing. Only the `<cpu>` block of the text is read and rewritten (in the formatter's
    /// layout), so the call costs the same for any size of definition (it runs on the event
    /// loop).
    nonisolated func updatingCPU(of xml: String, definition: DomainDefinition) -> String {
        guard let map = GuestCPUFeatures.map, definition.cpu != nil, let block = Self.cpuBlock(in: xml),
            let cpu = try? XMLTreeParser.parse(String(xml[block]))
        else { return xml }
        let mode = cpu[attribute: "mode"] ?? "custom"
        // libvirt leaves a CPU with only a topology, host-passthrough and maximum alone.
        guard mode == "host-model" || (mode == "custom" && !(cpu.element(named: "model")?.text ?? "").isEmpty) else { return xml }
        let host = HostModelCPUUpdate.needsHostModel(cpu) ? hostCPUModel(for: definition) : nil
        let updated = LiveCPUUpdate.disablingRemovedFeatures(HostModelCPUUpdate.updated(cpu, host: host, map: map), map: map)
        guard updated != cpu, let replacement = Self.cpuBlock(formatting: updated) else { return xml }
        var text = xml
        text.replaceSubrange(block, with: replacement)
        return text
    }

    /// Where the domain's `<cpu>` element is in a definition's text as the formatter writes
    /// it: from the line that opens it, two spaces in (a child of `<domain>`), through the
    /// line that closes it; `nil` when there is none.
    static func cpuBlock(in xml: String) -> Range<String.Index>? {
        guard let open = xml.range(of: "\n  <cpu[ />]", options: .regularExpression) else { return nil }
        let start = xml.index(after: open.lowerBound)
        let lineEnd = xml[start...].firstIndex(of: "\n") ?? xml.endIndex
        if xml[start..<lineEnd].hasSuffix("/>") { return start..<lineEnd }
        guard let close = xml.range(of: "\n  </cpu>", range: start..<xml.endIndex) else { return nil }
        return start..<close.upperBound
    }

    /// `cpu` written as the formatter writes it inside a `<domain>` (two spaces in, no line
    /// break after).
    static func cpuBlock(formatting cpu: XMLElement) -> String? {
        let text = DomainXMLFormatter.format(XMLElement(name: "domain", children: [.element(cpu)]))
        return cpuBlock(in: "\n" + text).map { String(("\n" + text)[$0]) }
    }
}
