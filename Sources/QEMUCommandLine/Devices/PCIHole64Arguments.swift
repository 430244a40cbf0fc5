import DomainXML

extension Builder {
    /// `<pcihole64>` of the PCI root bus: the host bridge's 64-bit window size, as a `-global`
    /// (libvirt's `qemuBuildGlobalControllerCommandLine`, after the IOMMU).
    mutating func addPCIHole64() {
        for controller in domain.devices.controllers where controller.type == .pci {
            guard let kib = controller.pciHole64KiB else { continue }
            let hostBridge = controller.model == "pcie-root" ? "q35-pcihost" : "i440FX-pcihost"
            add("-global", "\(hostBridge).pci-hole64-size=\(kib)K")
        }
    }
}
