@testable import DomainXML
import Testing
import XMLTree

@Suite("Device XML: parsing one device, matching it, editing documents")
struct DeviceXMLTests {
    static let document = """
        <domain type='qemu'><name>d</name><memory>65536</memory><os><type>hvm</type></os><devices>
          <disk type='file' device='disk'><source file='/a.img'/><target dev='vda' bus='virtio'/><alias name='virtio-disk0'/></disk>
          <disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>
          <controller type='scsi' index='0' model='virtio-scsi'/>
          <interface type='user'><mac address='52:54:00:00:00:01'/><alias name='net0'/></interface>
          <interface type='user'><mac address='52:54:00:00:00:02'/><alias name='net1'/></interface>
          <interface type='user'><mac address='52:54:00:00:00:02'/><alias name='net2'/></interface>
          <rng model='virtio'><backend model='random'>/dev/urandom</backend><alias name='rng0'/></rng>
        </devices></domain>
        """

    static func parsed() throws -> ParsedDomain { try DomainXMLParser.parse(document) }
    static func device(_ xml: String) throws -> XMLElement { try DeviceXML.parse(xml, limits: DomainXMLOptions().limits) }

    @Test("a device keeps a user alias and loses libvirt's own and the run-time node number")
    func parsing() throws {
        let user = try Self.device("<disk><source file='/x' index='7'/><target dev='vdb'/><alias name='ua-x'/></disk>")
        #expect(user.element(named: "alias")?[attribute: "name"] == "ua-x")
        #expect(user.element(named: "source")?[attribute: "index"] == nil)
        let own = try Self.device("<rng model='virtio'><alias name='rng3'/></rng>")
        #expect(own.element(named: "alias") == nil)
        #expect(throws: DomainXMLError.self) { try Self.device("<domain/>") }
        #expect(throws: DomainXMLError.self) { try Self.device("<disk>") }
    }

    @Test("libvirt's matching rules, and its messages when nothing or several match", arguments: [
        ("<disk><target dev='sda'/></disk>", "disk", DeviceXML.Match.found(1)),
        ("<disk><target dev='vdq'/></disk>", "disk", .missing("disk vdq not found")),
        ("<interface type='user'><mac address='52:54:00:00:00:01'/></interface>", "interface", .found(0)),
        ("<interface type='user'><mac address='52:54:00:00:00:02'/></interface>", "interface", .ambiguous("multiple devices matching MAC address 52:54:00:00:00:02 found")),
        ("<interface type='user'><mac address='52:54:00:00:00:02'/><alias name='net2'/></interface>", "interface", .found(2)),
        ("<interface type='user'><mac address='52:54:00:00:00:09'/></interface>", "interface",
         .missing("no device found at address '(<null>)' matching MAC address '52:54:00:00:00:09' and alias '(<null>)'")),
        ("<controller type='scsi' index='0'/>", "controller", .found(0)),
        ("<controller type='scsi' index='1'/>", "controller", .missing("controller scsi:1 not found")),
        ("<rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>", "rng", .found(0)),
        ("<rng model='virtio'><backend model='random'>/dev/random</backend></rng>", "rng", .missing("matching rng device not found")),
    ])
    func matching(xml: String, name: String, expected: DeviceXML.Match) throws {
        let element = try XMLTreeParser.parse(xml)
        let existing = DeviceXML.devices(named: name, in: try Self.parsed().document)
        #expect(DeviceXML.match(element, among: existing, live: true) == expected)
    }

    @Test("a device goes after the last of its kind, or where libvirt's order of kinds puts it; removal and lookup by alias")
    func editing() throws {
        let document = try Self.parsed().document
        let disk = try Self.device("<disk type='file'><source file='/b.img'/><target dev='vdb'/></disk>")
        let withDisk = DeviceXML.inserting(disk, into: document)
        #expect(DeviceXML.devices(named: "disk", in: withDisk).map { $0.element(named: "target")?[attribute: "dev"] } == ["vda", "sda", "vdb"])
        let names = withDisk.element(named: "devices")?.elements.map(\.name) ?? []
        #expect(names.firstIndex(of: "controller")! > names.lastIndex(of: "disk")!)
        let watchdog = try Self.device("<watchdog model='i6300esb'/>")
        let withWatchdog = DeviceXML.inserting(watchdog, into: document)
        let order = withWatchdog.element(named: "devices")?.elements.map(\.name) ?? []
        #expect(order.firstIndex(of: "watchdog")! > order.lastIndex(of: "interface")!)
        #expect(order.firstIndex(of: "watchdog")! < order.firstIndex(of: "rng")!)
        #expect(DeviceXML.position(ofAlias: "net1", in: document)! == ("interface", 1))
        let without = DeviceXML.removing("interface", at: 1, from: document)
        #expect(DeviceXML.devices(named: "interface", in: without).compactMap { $0.element(named: "alias")?[attribute: "name"] } == ["net0", "net2"])
        // The result is still a definition.
        _ = try DomainXMLParser.parse(without)
    }

    @Test("PCI addresses are read with libvirt's limits and written in its spelling")
    func pciAddresses() throws {
        let disk = try XMLTreeParser.parse("<disk><address type='pci' domain='0x0000' bus='0x02' slot='0x1f' function='0x7'/></disk>")
        let address = try #require(try DomainDefinition.PCIAddress(device: disk))
        #expect(address == .init(bus: 2, slot: 31, function: 7))
        #expect(address.description == "0000:02:1f.7")
        #expect(DomainXMLFormatter.format(address.element) .contains("bus='0x02' slot='0x1f' function='0x7'"))
        let bad = try XMLTreeParser.parse("<disk><address type='pci' bus='0x02' slot='0x20'/></disk>")
        #expect(throws: DomainXMLError.self) { try DomainDefinition.PCIAddress(device: bad) }
    }
}
