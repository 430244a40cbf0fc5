@testable import CorralDaemon
import CorralProtocol
import DomainXML
import QEMUCommandLine
import Testing

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
