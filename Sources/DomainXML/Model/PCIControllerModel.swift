/// libvirt's PCI controller models (`<controller type='pci' model>`) for x86 guests: the root
/// buses, the bridges, the PCIe ports and switches and the expander buses, with what libvirt
/// knows of each (its QEMU device, its options).
public enum PCIControllerModel: String, ModelledValue {
    case pciRoot = "pci-root"
    case pcieRoot = "pcie-root"
    case pciBridge = "pci-bridge"
    case dmiToPCIBridge = "dmi-to-pci-bridge"
    case pcieToPCIBridge = "pcie-to-pci-bridge"
    case pcieRootPort = "pcie-root-port"
    case pcieSwitchUpstreamPort = "pcie-switch-upstream-port"
    case pcieSwitchDownstreamPort = "pcie-switch-downstream-port"
    case pciExpanderBus = "pci-expander-bus"
    case pcieExpanderBus = "pcie-expander-bus"

    /// libvirt's default `<model name>`: the QEMU device (none for the root buses, which are the
    /// machine's own).
    public var defaultModelName: String? {
        switch self {
        case .pciRoot, .pcieRoot: nil
        case .pciBridge: "pci-bridge"
        case .dmiToPCIBridge: "i82801b11-bridge"
        case .pcieToPCIBridge: "pcie-pci-bridge"
        case .pcieRootPort: "pcie-root-port"
        case .pcieSwitchUpstreamPort: "x3130-upstream"
        case .pcieSwitchDownstreamPort: "xio3130-downstream"
        case .pciExpanderBus: "pxb"
        case .pcieExpanderBus: "pxb-pcie"
        }
    }

    /// The `<model name>`s libvirt 9.0 accepts for the model (its validation): the default, and
    /// for a root port also Intel's `ioh3420`.
    public var acceptedModelNames: Set<String> {
        switch self {
        case .pcieRootPort: ["pcie-root-port", "ioh3420"]
        default: defaultModelName.map { [$0] } ?? []
        }
    }

    /// A port with one slot for one device (hot-pluggable): `<target chassis port>` apply.
    public var isPCIePort: Bool { self == .pcieRootPort || self == .pcieSwitchDownstreamPort }

    /// An expander bus (a further root bus, QEMU's `pxb`/`pxb-pcie`): `<target busNr>` and
    /// `<target><node>` apply.
    public var isExpanderBus: Bool { self == .pciExpanderBus || self == .pcieExpanderBus }

    /// The root bus of the machine (index 0).
    public var isRootBus: Bool { self == .pciRoot || self == .pcieRoot }
}
