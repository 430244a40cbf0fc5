@testable import CorralDaemon
import CorralProtocol
import DomainXML
import QEMUCommandLine
import Testing
import XMLTree

@Suite("Live domain XML and consoles")
struct LiveDomainXMLTests {
    static let xml = """
        <domain type='qemu'><name>g</name><memory unit='MiB'>64</memory><os><type machine='q35'>hvm</type></os>
        <devices>
          <disk type='file' device='disk'><source file='/i/a.qcow2'/><target dev='vda' bus='virtio'/></disk>
          <disk type='file' device='cdrom'><target dev='sdb' bus='sata'/><alias name='ua-cd'/></disk>
          <interface type='user'><mac address='52:54:00:00:00:01'/></interface>
          <serial type='pty'/>
          <serial type='file'><source path='/tmp/s.log'/></serial>
          <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
        </devices></domain>
        """

    static func parsed(_ devices: String? = nil) throws -> ParsedDomain {
        guard let devices else { return try DomainXMLParser.parse(xml, options: .init()) }
        return try DomainXMLParser.parse("<domain type='qemu'><name>h</name><memory>65536</memory><os><type>hvm</type></os><devices>\(devices)</devices></domain>", options: .init())
    }

    @Test("devices get libvirt's aliases, node names and sockets; a user alias wins; a serial console is its serial port")
    func names() throws {
        let devices = GuestDevices(try Self.parsed().definition, runDirectory: "/run/g")
        #expect(devices.disks.map(\.alias) == ["virtio-disk0", "ua-cd"])
        #expect(devices.disks.map(\.formatNode) == ["libvirt-2-format", "libvirt-1-format"])
        #expect(devices.disk(named: "/i/a.qcow2")?.target == "vda")
        #expect(devices.interfaces.first?.netdev == "hostnet0" && devices.interfaces.first?.alias == "net0")
        let console = try #require(devices.characterDevice(.console, index: 0))
        #expect(console.alias == "serial0" && console.chardev == "charserial0" && console.type == .pty)
        #expect(devices.characterDevice(.channel, index: 0)?.path == "/run/g/channel-org.qemu.guest_agent.0.sock")
    }

    @Test("the live XML carries aliases and the pseudo-terminal, and parses again (the status file)")
    func decorate() throws {
        let parsed = try Self.parsed()
        var devices = GuestDevices(parsed.definition, runDirectory: "/run/g")
        for index in devices.characterDevices.indices where devices.characterDevices[index].chardev == "charserial0" {
            devices.characterDevices[index].path = "/dev/pts/7"
        }
        let live = DomainXMLFormatter.format(LiveDomainXML.decorate(parsed.document, devices: devices), id: 3)
        #expect(live.contains("<console type='pty' tty='/dev/pts/7'>\n      <source path='/dev/pts/7'/>"))
        #expect(live.contains("<alias name='virtio-disk0'/>") && live.contains("<alias name='ua-cd'/>") && live.contains("<alias name='net0'/>"))
        #expect(live.contains("<alias name='serial1'/>") && live.contains("<alias name='channel0'/>"))
        let again = try DomainXMLParser.parse(live, options: .init())
        #expect(GuestDevices(again.definition, runDirectory: "/run/g").characterDevice(.console, index: 0)?.path == "/dev/pts/7")
    }

    @Test("the run's additions go from the inactive form: aliases (no empty element left), channel states and sockets, default listen addresses, autoport ports")
    func inactiveForm() throws {
        let parsed = try Self.parsed(
            "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel><graphics type='vnc' autoport='yes'/><graphics type='spice' autoport='yes'/>")
        var document = LiveDomainXML.decorate(parsed.document, devices: GuestDevices(parsed.definition, runDirectory: "/run/h"), vncDisplay: 3, spicePort: 5904)
        let filled = LiveDomainXML.fillDefaultListenAddresses(&document)
        #expect(filled == [0, 1])
        let live = DomainXMLFormatter.format(document, id: 1)
        #expect(live.contains("<source mode='bind' path='/run/h/channel-org.qemu.guest_agent.0.sock'/>"))
        #expect(live.contains("<graphics type='vnc' port='5903' autoport='yes' listen='127.0.0.1'>") && live.contains("<graphics type='spice' port='5904' autoport='yes' listen='127.0.0.1'>"))
        #expect(live.contains("<controller type='pci' index='0' model='pci-root'>\n      <alias name='pci.0'/>"))
        let inactive = DomainXMLFormatter.format(LiveDomainXML.inactiveForm(
            document, added: .init(runDirectory: "/run/h", defaultListenGraphics: filled)))
        #expect(inactive.contains("<controller type='pci' index='0' model='pci-root'/>"))
        #expect(!inactive.contains("<alias") && !inactive.contains("127.0.0.1") && !inactive.contains("mode='bind'"))
        #expect(inactive.contains("<graphics type='vnc' port='-1' autoport='yes'>") && inactive.contains("<graphics type='spice' autoport='yes'>"))
    }

    @Test("a start QEMU failed because its display port was taken is tried again; other failures are not")
    func lostDisplayPort() {
        // QEMU 7.2's own words, for a VNC server and a SPICE server whose port was taken.
        let vnc = RemoteError(code: .internalError, domain: .qemu, detail: "qemu unexpectedly closed the monitor: -vnc 127.0.0.1:1,audiodev=audio1: Failed to find an available port: Address already in use")
        let spice = RemoteError(code: .internalError, domain: .qemu, detail: "Spice: reds.cpp:3442:do_spice_init: Failed to open SPICE sockets")
        let other = RemoteError(code: .internalError, domain: .qemu, detail: "qemu unexpectedly closed the monitor: Could not open '/x': No such file or directory")
        #expect(DomainDriver.lostGraphicsPort(vnc) && DomainDriver.lostGraphicsPort(spice) && !DomainDriver.lostGraphicsPort(other))
    }

    @Test("console and channel choice and refusals follow libvirt")
    func choice() throws {
        let devices = GuestDevices(try Self.parsed().definition, runDirectory: "/run/g")
        #expect(try ConsoleProcedures.console(named: nil, in: devices).alias == "serial0")
        #expect(throws: RemoteError(code: .internalError, domain: .qemu, detail: "character device serial1 is not using a PTY")) {
            try ConsoleProcedures.console(named: "serial1", in: devices)
        }
        #expect(throws: RemoteError(code: .internalError, domain: .qemu, detail: "cannot find character device nope")) {
            try ConsoleProcedures.console(named: "nope", in: devices)
        }
        #expect(try ConsoleProcedures.channel(named: "org.qemu.guest_agent.0", in: devices).alias == "channel0")
        #expect(throws: RemoteError(code: .internalError, domain: .qemu, detail: "cannot find channel <null>")) {
            try ConsoleProcedures.channel(named: nil, in: GuestDevices(try Self.parsed("<serial type='pty'/>").definition, runDirectory: "/"))
        }
    }
}

@Suite("Hotplug plans")
struct HotplugPlanTests {
    static func live(_ devices: String, machine: String = "q35") throws -> ParsedDomain {
        var options = DomainXMLOptions()
        options.keepsLiveState = true
        return try DomainXMLParser.parse(
            "<domain type='qemu'><name>h</name><memory>65536</memory><os><type machine='\(machine)'>hvm</type></os><devices>\(devices)</devices></domain>",
            options: options)
    }

    static func plan(_ xml: String, in live: ParsedDomain) throws -> HotplugPlan {
        var options = DomainXMLOptions()
        options.keepsLiveState = true
        let devices = GuestDevices(live.definition, runDirectory: "/run/h")
        return try HotplugPlan(try DeviceXML.parse(xml, limits: options.limits), live: live, devices: devices, options: options)
    }

    /// Four root ports: the disk on the first; the USB controller and the memory balloon libvirt
    /// adds (placed at define) on the next two.
    static let ports = (1...4).map { "<controller type='pci' index='\($0)' model='pcie-root-port'/>" }.joined()

    @Test("a disk gets libvirt's alias, the next node number and the first free root port")
    func disk() throws {
        let live = try Self.live("<disk type='file'><source file='/a' index='4'/><target dev='vda'/><alias name='virtio-disk0'/><address type='pci' bus='0x01' slot='0x00'/></disk>" + Self.ports)
        let plan = try Self.plan("<disk type='file'><source file='/b'/><target dev='vdc'/></disk>", in: live)
        #expect(plan.alias == "virtio-disk2")
        #expect(plan.device == .disk(1))
        #expect(plan.element.element(named: "source")?[attribute: "index"] == "5")
        #expect(try DomainDefinition.PCIAddress(device: plan.element)?.bus == 4)
        let names = GuestDevices(plan.live.definition, runDirectory: "/run/h")
        #expect(names.disks.map(\.formatNode) == ["libvirt-4-format", "libvirt-5-format"])
    }

    @Test("interfaces and RNGs take the first free number; a user alias is kept; a pc guest's device takes the next free slot")
    func numbering() throws {
        let live = try Self.live("<interface type='user'><mac address='52:54:00:00:00:01'/><alias name='net1'/></interface>", machine: "pc")
        let nic = try Self.plan("<interface type='user'/>", in: live)
        // 00:01 is the PIIX3's, 00:02 the old NIC's, 00:03 the balloon's.
        let address = try DomainDefinition.PCIAddress(device: nic.live.document.element(named: "devices")!.elements(named: "interface")[1])
        #expect(nic.alias == "net0" && address?.bus == 0 && address?.slot == 4)
        #expect(GuestDevices(nic.live.definition, runDirectory: "").interfaces.map(\.netdev) == ["hostnet1", "hostnet0"])
        #expect(try Self.plan("<rng model='virtio'><backend model='random'>/dev/urandom</backend><alias name='ua-r'/></rng>", in: live).alias == "ua-r")
    }

    @Test("refusals: a target in use, buses that do not hotplug, no free port, host devices", arguments: [
        ("<disk type='file'><source file='/b'/><target dev='vda'/></disk>", "target vda already exists"),
        ("<disk type='file'><source file='/b'/><target dev='sdb' bus='sata'/></disk>", "disk bus 'sata' cannot be hotplugged."),
        ("<controller type='usb' index='1'/>", "'usb' controller cannot be hot plugged."),
        ("<hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x06' slot='0x02' function='0x0'/></source></hostdev>", "host device assignment (<hostdev>) is not supported by Corral"),
        ("<sound model='ich9'/>", "live attach of device 'sound' is not supported"),
        ("<interface type='user'/>", "No more available PCI slots"),
    ])
    func refusals(xml: String, message: String) throws {
        // One root port of the definition's own (so none is added spare): the disk takes it, the
        // balloon one added at define.
        let live = try Self.live("<disk type='file'><source file='/a'/><target dev='vda'/></disk><controller type='pci' index='1' model='pcie-root-port'/>")
        #expect {
            try Self.plan(xml, in: live)
        } throws: { error in
            (error as? RemoteError)?.message?.contains(message) == true
        }
    }
}
