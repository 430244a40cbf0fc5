import DomainXML
import QEMUProbe
import Synchronization

/// The host model of each emulator and accelerator (``HostCPUModel``), found once from the
/// emulator's probe and libvirt's CPU map: what a `host-model` guest starts with and
/// `virsh domcapabilities` lists.
enum HostCPUModels {
    private static let found = Mutex<[String: HostCPUModel?]>([:])

    /// The host model for guests of `emulator` under KVM (`kvm`) or TCG; `nil` when the probe
    /// ran under the other accelerator, QEMU did not expand its CPU, or libvirt's CPU map is
    /// not installed.
    static func model(for emulator: EmulatorCapabilities, kvm: Bool) -> HostCPUModel? {
        guard let cpu = emulator.hostCPU, cpu.accelerator == (kvm ? "kvm" : "tcg"), let map = GuestCPUFeatures.map else { return nil }
        let key = "\(emulator.path)\n\(emulator.version)\n\(cpu.accelerator)"
        if let known = found.withLock({ $0[key] }) { return known }
        let probe = HostCPUModel.Probe(enabledProperties: cpu.enabledProperties, vendorString: cpu.vendor, family: cpu.family, model: cpu.model, stepping: cpu.stepping)
        let offered = emulator.cpuModels.isEmpty ? nil : Dictionary(emulator.cpuModels.map { ($0.name, $0.blockers) }, uniquingKeysWith: { first, _ in first })
        let model = HostCPUModel.decode(probe, map: map, offered: offered)
        found.withLock { $0[key] = model }
        return model
    }
}
