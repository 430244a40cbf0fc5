import DomainXML
import QEMUCommandLine
import QEMUProbe
import Testing

/// A restore's QEMU: the same command line as a boot, waiting for its state (`-incoming defer`,
/// where libvirt puts it: after the host devices, before the balloon); and `<resource>` as libvirtd writes it into every
/// guest.
@Suite("Incoming migration and resource partition")
struct IncomingMigrationTests {
    static func build(_ extra: String = "", incoming: Bool, loadSnapshot: String? = nil) throws(CommandLineError) -> [String] {
        let xml = "<domain type='qemu'><name>s</name><uuid>8add7347-1a0e-4230-a072-bec9fc3df426</uuid><memory>65536</memory>\(extra)<os><type>hvm</type></os><devices><memballoon model='virtio'/></devices></domain>"
        let parsed = try! DomainXMLParser.parse(xml)
        var context = CommandLineContext(
            emulator: "/usr/bin/qemu-system-x86_64", capabilities: Set(QEMUCapability.allCases), kvmUsable: false, id: 1, runDirectory: "/run/corral/domains/s")
        context.incomingMigration = incoming
        context.loadSnapshot = loadSnapshot
        return try QEMUCommandLineBuilder.build(parsed.definition, context: context).arguments
    }

    @Test("a restore adds -incoming defer after the host devices and before the balloon, and nothing else changes")
    func incoming() throws {
        let booting = try Self.build(incoming: false)
        let restoring = try Self.build(incoming: true)
        let at = try #require(restoring.firstIndex(of: "-incoming"))
        #expect(restoring[at + 1] == "defer")
        #expect(restoring[at + 2] == "-device" && restoring[at + 3].contains("virtio-balloon-pci"))
        #expect(restoring[..<at].contains("-chardev") && restoring[..<at].contains("-machine"))
        var without = restoring
        without.removeSubrange(at...at + 1)
        #expect(without == booting && !booting.contains("-incoming"))
    }

    @Test("a revert loads its snapshot with -loadvm after the devices, the name one whole argument")
    func loadSnapshot() throws {
        let booting = try Self.build(incoming: false)
        let name = "before, upgrade=1 \"x\""
        let reverting = try Self.build(incoming: false, loadSnapshot: name)
        let at = try #require(reverting.firstIndex(of: "-loadvm"))
        #expect(reverting[at + 1] == name)
        #expect(reverting.lastIndex(of: "-device").map { $0 < at } == true)
        var without = reverting
        without.removeSubrange(at...at + 1)
        #expect(without == booting)
    }

    @Test("libvirt's default partition is accepted; another one is refused")
    func partition() throws {
        #expect(try Self.build("<resource><partition>/machine</partition></resource>", incoming: false) == Self.build(incoming: false))
        #expect {
            _ = try Self.build("<resource><partition>/elsewhere</partition></resource>", incoming: false)
        } throws: { error in
            (error as? CommandLineError)?.message.contains("resource partition '/elsewhere' is not supported") == true
        }
    }
}
