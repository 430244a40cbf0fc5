@testable import DomainXML
import Testing
import XMLTree

/// The expected addresses are libvirtd 9.0's for the same documents (virsh define, then
/// dumpxml --inactive).
@Suite("PCI address assignment")
struct PCIAddressAssignmentTests {
    static func addresses(_ devices: String, machine: String) throws -> [String] {
        let xml = "<domain type='qemu'><name>a</name><memory>65536</memory><os><type machine='\(machine)'>hvm</type></os><devices>\(devices)</devices></domain>"
        let parsed = try DomainXMLParser.parse(xml)
        return parsed.document.element(named: "devices")!.elements.compactMap { device in
            guard let address = try? DomainDefinition.PCIAddress(device: device) else { return nil }
            let kind = device.name + (device[attribute: "model"].map { ":" + $0 } ?? "") + (device.name == "controller" ? ":" + (device[attribute: "type"] ?? "") : "")
            return "\(kind) \(address)\(address.multifunction ? " multi" : "")"
        }
    }

    static let minimal = "<disk type='file' device='disk'><source file='/d'/><target dev='vda'/></disk><interface type='user'><model type='rtl8139'/></interface><video><model type='cirrus'/></video>"

    @Test("i440fx: the PIIX3 at 00:01, the primary video at 00:02, then the devices in libvirt's order")
    func i440fx() throws {
        #expect(try Self.addresses(Self.minimal, machine: "pc") == [
            "disk 0000:00:04.0", "controller:piix3-uhci:usb 0000:00:01.2", "interface 0000:00:03.0", "video 0000:00:02.0",
            "memballoon:virtio 0000:00:05.0",
        ])
    }

    @Test("q35: a root port each for PCIe devices, a PCIe-to-PCI bridge behind one for a conventional NIC, one spare root port")
    func q35() throws {
        let addresses = try Self.addresses(Self.minimal, machine: "q35")
        #expect(addresses == [
            "disk 0000:04:00.0", "controller:qemu-xhci:usb 0000:03:00.0", "controller:sata 0000:00:1f.2",
            "controller:pcie-root-port:pci 0000:00:02.0 multi", "controller:pcie-to-pci-bridge:pci 0000:01:00.0",
            "controller:pcie-root-port:pci 0000:00:02.1", "controller:pcie-root-port:pci 0000:00:02.2", "controller:pcie-root-port:pci 0000:00:02.3",
            "controller:pcie-root-port:pci 0000:00:02.4", "interface 0000:02:01.0", "video 0000:00:01.0", "memballoon:virtio 0000:05:00.0",
        ])
    }

    @Test("USB 2 companions share one slot at their functions; explicit addresses are kept; one address twice is refused")
    func companionsAndConflicts() throws {
        let usb2 = "<controller type='usb' index='0' model='ich9-ehci1'/><controller type='usb' index='0' model='ich9-uhci1'/><controller type='usb' index='0' model='ich9-uhci2'/>"
        let addresses = try Self.addresses(usb2 + "<rng model='virtio'><backend model='random'>/dev/urandom</backend><address type='pci' bus='0' slot='9'/></rng>", machine: "pc")
        #expect(addresses == [
            "controller:ich9-ehci1:usb 0000:00:02.7", "controller:ich9-uhci1:usb 0000:00:02.0 multi", "controller:ich9-uhci2:usb 0000:00:02.1",
            "memballoon:virtio 0000:00:03.0", "rng:virtio 0000:00:09.0",
        ])
        let twice = "<rng model='virtio'><address type='pci' bus='0' slot='9'/></rng><memballoon model='virtio'><address type='pci' bus='0' slot='9'/></memballoon>"
        #expect(throws: DomainXMLError.self) { try Self.addresses(twice, machine: "pc") }
    }

    @Test("the assignment is stable: a defined document parses to the same addresses again")
    func idempotent() throws {
        let first = try DomainXMLParser.parse("<domain type='qemu'><name>a</name><memory>65536</memory><os><type machine='q35'>hvm</type></os><devices>\(Self.minimal)</devices></domain>")
        let second = try DomainXMLParser.parse(first.xml)
        #expect(first.xml == second.xml)
    }
}
