@testable import DomainXML
import Testing
import XMLTree

/// libvirt's migratable form and its parser's controller order; the expectations are libvirtd
/// 9.0's for the same documents (`dumpxml --migratable`, and `dumpxml --inactive` after defining
/// libvirtd's own output again). tests-python/test_live_xml.py compares whole documents with
/// libvirtd's.
@Suite("Migratable XML and libvirt's controller order")
struct MigratableFormTests {
    static func domain(_ devices: String, machine: String) -> String {
        "<domain type='qemu'><name>a</name><memory>65536</memory><os><type arch='x86_64' machine='\(machine)'>hvm</type></os><devices>\(devices)</devices></domain>"
    }

    /// Each device of the migratable form: its name and type or model.
    static func devices(_ document: XMLElement) -> [String] {
        document.element(named: "devices")!.elements.compactMap { device in
            guard device.name != "emulator" else { return nil }
            return [device.name, device[attribute: "type"], device[attribute: "model"], device[attribute: "index"], device[attribute: "bus"]].compactMap { $0 }.joined(separator: ":")
        }
    }

    static func migratable(_ devices: String, machine: String) throws -> [String] {
        Self.devices(DomainMigratableForm.of(try DomainXMLParser.parse(domain(devices, machine: machine)).document))
    }

    @Test("i440fx: the default USB controller, the PCI root, the PS/2 keyboard and the default audio go; the PS/2 mouse stays")
    func i440fx() throws {
        #expect(try Self.migratable("<graphics type='vnc'/><sound model='ich6'/>", machine: "pc") == [
            "input:mouse:ps2", "graphics:vnc", "sound:ich6", "video", "memballoon:virtio",
        ])
    }

    @Test("q35: its USB controller and PCIe root stay (only i440fx's and a pci-root go)")
    func q35() throws {
        let devices = try Self.migratable("", machine: "q35")
        #expect(devices.contains("controller:usb:qemu-xhci:0") && devices.contains("controller:pci:pcie-root:0"))
        #expect(!devices.contains { $0.hasPrefix("input:keyboard") } && !devices.contains { $0.hasPrefix("audio") })
    }

    @Test("what libvirt did not add stays: a user alias, a second USB controller, a 64-bit PCI hole, an audio of its own")
    func userChoicesStay() throws {
        let aliased = try Self.migratable("<controller type='usb' index='0' model='piix3-uhci'><alias name='ua-usb'/></controller>", machine: "pc")
        #expect(aliased.contains("controller:usb:piix3-uhci:0"))
        let two = try Self.migratable("<controller type='usb' index='0' model='piix3-uhci'/><controller type='usb' index='1' model='piix3-uhci'/>", machine: "pc")
        #expect(two.filter { $0.hasPrefix("controller:usb") }.count == 2)
        let hole = try Self.migratable("<controller type='pci' index='0' model='pci-root'><pcihole64 unit='KiB'>1048576</pcihole64></controller>", machine: "pc")
        #expect(hole.contains("controller:pci:pci-root:0"))
        let audio = try Self.migratable("<audio id='1' type='none' timerPeriod='100'/>", machine: "pc")
        #expect(audio.contains("audio:none"))
    }

    /// The controllers' types and indexes after a parse, in order.
    static func controllers(_ devices: String, machine: String) throws -> [String] {
        try DomainXMLParser.parse(domain(devices, machine: machine)).document.element(named: "devices")!.elements(named: "controller").map {
            ($0[attribute: "type"] ?? "") + ($0[attribute: "index"] ?? "") + ($0[attribute: "model"].map { ":" + $0 } ?? "")
        }
    }

    @Test("controllers a document gives are put together by type, each before the first of its type with a higher index")
    func parserOrder() throws {
        let order = try Self.controllers(
            "<controller type='pci' index='0' model='pcie-root'/><controller type='virtio-serial' index='0'/><controller type='pci' index='2' model='pcie-root-port'/>"
                + "<controller type='sata' index='0'/><controller type='pci' index='1' model='pcie-root-port'/>", machine: "q35")
        #expect(Array(order.prefix(5)) == ["pci0:pcie-root", "pci1:pcie-root-port", "pci2:pcie-root-port", "virtio-serial0", "sata0"])
    }

    @Test("a USB controller that is no companion goes before the companions of its index")
    func mastersBeforeCompanions() throws {
        let order = try Self.controllers(
            "<controller type='usb' index='0' model='ich9-uhci1'><master startport='0'/></controller><controller type='usb' index='0' model='ich9-ehci1'/>",
            machine: "q35")
        #expect(Array(order.prefix(2)) == ["usb0:ich9-ehci1", "usb0:ich9-uhci1"])
    }

    @Test("a definition read back settles: a second reading keeps the first one's order")
    func settles() throws {
        let first = try DomainXMLParser.parse(Self.domain("<channel type='unix'><target type='virtio' name='a.0'/></channel><sound model='ich6'/>", machine: "q35")).xml
        let second = try DomainXMLParser.parse(first).xml
        #expect(try DomainXMLParser.parse(second).xml == second)
        // The first reading appended virtio-serial before the root ports it added later; read back, the PCI controllers are together.
        let kinds = try DomainXMLParser.parse(second).document.element(named: "devices")!.elements(named: "controller").map { $0[attribute: "type"] ?? "" }
        #expect(kinds.firstIndex(of: "virtio-serial")! > kinds.lastIndex(of: "pci")!)
    }
}
