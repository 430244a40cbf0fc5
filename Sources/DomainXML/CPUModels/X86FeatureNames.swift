/// The x86 CPU features libvirt's map spells differently from QEMU (libvirt's
/// `virQEMUCapsCPUFeaturesX86`): the map's name is the XML's, QEMU's goes on `-cpu` and comes
/// back from QEMU's probes.
public enum X86FeatureNames {
    static let qemuByLibvirt: [String: String] = [
        "cmp_legacy": "cmp-legacy", "ds_cpl": "ds-cpl", "fxsr_opt": "fxsr-opt", "kvm_pv_eoi": "kvm-pv-eoi",
        "kvm_pv_unhalt": "kvm-pv-unhalt", "lahf_lm": "lahf-lm", "nodeid_msr": "nodeid-msr", "pclmuldq": "pclmulqdq",
        "perfctr_core": "perfctr-core", "perfctr_nb": "perfctr-nb", "tsc_adjust": "tsc-adjust",
    ]
    static let libvirtByQEMU = Dictionary(uniqueKeysWithValues: qemuByLibvirt.map { ($1, $0) })

    /// The name QEMU takes for the map's feature `name`.
    public static func qemu(_ name: String) -> String { qemuByLibvirt[name] ?? name }

    /// The map's name for QEMU's feature `name`.
    public static func libvirt(fromQEMU name: String) -> String { libvirtByQEMU[name] ?? name }

    /// Features libvirt drops from a guest CPU before it starts (`virQEMUCapsCPUFilterFeatures`):
    /// QEMU never had them, or dropped them as they did nothing.
    public static let droppedAtStart: Set<String> = ["cmt", "mbm_total", "mbm_local", "osxsave", "ospke"]
}
