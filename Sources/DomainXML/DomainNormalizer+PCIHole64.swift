import XMLTree

extension DomainNormalizer {
    /// `<pcihole64>` of a PCI root bus as libvirt keeps it: its size in KiB (rounded up), written
    /// `unit='KiB'`; libvirt reads the element only on the root bus (`pci-root`, `pcie-root`)
    /// and drops it elsewhere.
    static func normalizePCIHole64(_ controller: inout XMLElement) throws(DomainXMLError) {
        guard let hole = controller.element(named: "pcihole64", namespace: nil) else { return }
        guard controller[attribute: "type"] == "pci", ["pci-root", "pcie-root"].contains(controller[attribute: "model"] ?? "") else {
            controller.children.removeAll { if case .element(let e) = $0 { e.name == "pcihole64" && e.namespace == nil } else { false } }
            return
        }
        let kib = try kibibytes(hole)
        controller.updateElements { if $0.name == "pcihole64" && $0.namespace == nil { $0 = element("pcihole64", [("unit", "KiB")], text: String(kib)) } }
    }
}
