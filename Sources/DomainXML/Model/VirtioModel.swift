/// The virtio models libvirt lets a disk, filesystem, controller, input, RNG, vsock device or
/// balloon name: the device
/// QEMU picks (modern and legacy on PCIe, legacy on conventional PCI), or one of its two fixed
/// variants.
public enum VirtioModel: String, Hashable, Sendable, ModelledValue {
    case virtio
    /// Legacy and modern at once, on a conventional PCI slot (for guests of before virtio 1.0).
    case virtioTransitional = "virtio-transitional"
    /// Modern only.
    case virtioNonTransitional = "virtio-non-transitional"

    /// QEMU's device of this model, for the virtio device `base` (`virtio-blk-pci`).
    public func device(_ base: String) -> String {
        switch self {
        case .virtio: base
        case .virtioTransitional: base + "-transitional"
        case .virtioNonTransitional: base + "-non-transitional"
        }
    }

    /// A transitional device works in a conventional PCI slot only (libvirt places it there).
    public var needsConventionalPCI: Bool { self == .virtioTransitional }
}
