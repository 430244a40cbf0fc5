import CorralProtocol
import DomainXML
import QEMUProbe
import XMLTree

/// `virConnectCompareHypervisorCPU`: a `<cpu>` (a guest's, or a host's with `<arch>`) against
/// the host model of an emulator and virtualisation type, with libvirt's errors
/// (`qemuConnectCompareHypervisorCPU`, `virCPUCompareXML`).
enum HostCPUComparison {
    static func compare(_ xml: String, emulator: EmulatorCapabilities, kvm: Bool) throws(RemoteError) -> HostCPUCompatibility.Comparison {
        guard let map = GuestCPUFeatures.map, let host = HostCPUModels.model(for: emulator, kvm: kvm) else {
            throw RemoteError(
                code: .operationUnsupported, domain: .qemu,
                detail: "QEMU '\(emulator.path)' does not support reporting CPU model for virttype '\(kvm ? "kvm" : "qemu")'")
        }
        guard !xml.isEmpty else { throw RemoteError(code: .invalidArgument, domain: .cpu, detail: "missing CPU definition") }
        let cpu: XMLElement
        do throws(XMLParseError) {
            cpu = try XMLTreeParser.parse(xml)
        } catch {
            throw RemoteError(code: .xmlError, domain: .cpu, detail: "(CPU_definition): \(error)")
        }
        guard cpu.name == "cpu", cpu.namespace == nil else {
            throw RemoteError(code: .xmlError, domain: .cpu, detail: "XML does not contain expected 'cpu' element")
        }
        let described = HostCPUCompatibility.Described(cpu)
        if cpu.element(named: "arch") != nil && described.model == nil {
            throw RemoteError(code: .xmlError, domain: .cpu, detail: "Missing CPU model name")
        }
        do throws(HostCPUCompatibility.UnknownName) {
            return try HostCPUCompatibility.compare(described, with: host, map: map)
        } catch {
            throw RemoteError(code: .internalError, domain: .cpu, detail: error.description)
        }
    }
}
