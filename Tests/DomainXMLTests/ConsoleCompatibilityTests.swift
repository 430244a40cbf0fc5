import DomainXML
import Testing

/// Serial ports and consoles filled in as libvirt 9.0 fills them in (compared with its
/// `dumpxml` of the same documents).
@Suite("Serial ports and consoles")
struct ConsoleCompatibilityTests {
    var options: DomainXMLOptions {
        var options = DomainXMLOptions()
        options.defaultMachine = "pc-i440fx-7.2"
        options.defaultCPUModels = ["pc-q35-7.2": "qemu64", "pc-i440fx-7.2": "qemu64"]
        return options
    }

    func devices(_ body: String) throws -> DomainDefinition.Devices {
        try DomainXMLParser.parse(
            "<domain type='qemu'><name>d</name><memory>1024</memory><os><type>hvm</type></os><devices>\(body)</devices></domain>", options: options
        ).definition.devices
    }

    @Test("a serial port is an isa-serial on the lowest free port, and gets a serial console")
    func serialTargets() throws {
        let found = try devices("<serial type='pty'><target port='2'/></serial><serial type='pty'/><serial type='file'><source path='/tmp/s'/></serial>")
        #expect(found.serials.map(\.targetType) == ["isa-serial", "isa-serial", "isa-serial"])
        #expect(found.serials.map(\.targetPort) == [2, 0, 1])
        #expect(found.consoles.map(\.targetType) == ["serial"])
        #expect(found.consoles.first?.targetPort == 0)
    }

    @Test("a first console that is not serial gets the serial console put before it; virtio consoles count from 0")
    func serialConsoleFirst() throws {
        let found = try devices("<serial type='pty'/><console type='pty'><target type='virtio'/></console><console type='pty'><target type='virtio'/></console>")
        #expect(found.consoles.map(\.targetType) == ["serial", "virtio", "virtio"])
        #expect(found.consoles.map(\.targetPort) == [0, 0, 1])
    }

    @Test("a first console that is the serial one stays as written; without a serial port nothing is added")
    func noStub() throws {
        let serialFirst = try devices("<serial type='pty'/><console type='pty'/><console type='pty'><target type='virtio'/></console>")
        #expect(serialFirst.consoles.map(\.targetType) == ["serial", "virtio"])
        #expect(serialFirst.consoles.map(\.targetPort) == [0, 0])
        let virtioOnly = try devices("<console type='pty'><target type='virtio' port='3'/></console><console type='pty'><target type='virtio'/></console>")
        #expect(virtioOnly.consoles.map(\.targetType) == ["virtio", "virtio"])
        #expect(virtioOnly.consoles.map(\.targetPort) == [3, 4])
        #expect(virtioOnly.serials.isEmpty)
    }

    @Test("ISA serial ports beyond libvirt's four, a port taken twice, and a bad port are refused", arguments: [
        ("<serial type='pty'/><serial type='pty'/><serial type='pty'/><serial type='pty'/><serial type='pty'/>", "Maximum supported number of ISA serial ports is '4'"),
        ("<serial type='pty'><target port='4'/></serial>", "Maximum supported number of ISA serial ports is '4'"),
        ("<serial type='pty'><target port='1'/></serial><serial type='pty'><target port='1'/></serial>", "target port '1' already allocated"),
        ("<serial type='pty'><target port='-1'/></serial>", "Invalid port number: -1"),
    ])
    func refusals(body: String, message: String) throws {
        #expect {
            _ = try devices(body)
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
