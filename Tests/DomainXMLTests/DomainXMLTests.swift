import DomainXML
import Foundation
import QEMUConfig
import Testing
import XMLTree

@Suite("Domain XML")
struct DomainXMLTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func fixture(_ name: String) throws -> String { try String(contentsOf: fixtures.appendingPathComponent(name), encoding: .utf8) }

    var options: DomainXMLOptions {
        var options = DomainXMLOptions()
        options.machineAliases = ["q35": "pc-q35-7.2", "pc": "pc-i440fx-7.2"]
        options.defaultMachine = "pc-i440fx-7.2"
        options.defaultCPUModels = ["pc-q35-7.2": "qemu64", "pc-i440fx-7.2": "qemu64"]
        return options
    }

    @Test("the qemu namespace under another prefix is read by URI and written back as qemu, in libvirt's order")
    func namespaceNormalised() throws {
        let parsed = try DomainXMLParser.parse(try Self.fixture("namespace-ns0.xml"), options: options)
        let ns = parsed.definition.qemu
        #expect(ns.arguments == ["-S"])
        #expect(ns.environment == [QEMUEnvironmentVariable(name: "FOO", value: "bar")])
        #expect(ns.capabilitiesAdded == ["vnc-colon"] && ns.capabilitiesRemoved == ["name"])
        #expect(ns.deprecationBehavior == "crash")
        #expect(ns.passthroughMonitors == 2 && ns.passthroughMonitorCount == 2)
        #expect(ns.overrides == [DeviceOverride(alias: "ua-disk", frontend: [.init(name: "prop1", type: .string, value: "v")])])
        #expect(ns.alterations == [OptionAlteration(option: "-device", match: "virtio-net", modify: ["romfile="])])
        #expect(ns.configSections.sections == [QEMUConfigSection(group: "object", id: "rng0", entries: [.init(key: "qom-type", value: "rng-random"), .init(key: "filename", value: "/dev/urandom")])])
        let xml = parsed.xml
        #expect(xml.hasPrefix("<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"))
        #expect(!xml.contains("ns0:"))
        let order = ["<qemu:commandline>", "<qemu:capabilities>", "<qemu:override>", "<qemu:deprecation", "<qemu:passthrough monitors='2'/>", "<qemu:object id='rng0'>"]
        let positions = order.map { xml.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        #expect(xml.range(of: "</devices>")!.lowerBound < positions[0]!)
    }

    static let badPassthrough: [(String, String)] = [
        ("<qemu:passthrough monitors='0'/>", "invalid passthrough monitors '0': expected a number from 1 to 32"),
        ("<qemu:passthrough monitors='33'/>", "invalid passthrough monitors '33': expected a number from 1 to 32"),
        ("<qemu:passthrough monitors='99999999999999999999999'/>", "invalid passthrough monitors '99999999999999999999999'"),
        ("<qemu:passthrough monitors=' 4'/>", "invalid passthrough monitors ' 4'"),
        ("<qemu:passthrough size='4'/>", "unknown attribute 'size' of <qemu:passthrough>"),
        ("<qemu:passthrough monitors='4'>x</qemu:passthrough>", "<qemu:passthrough> has no content"),
    ]

    @Test("the passthrough monitor pool's size is refused out of range or malformed", arguments: badPassthrough)
    func passthroughRefusals(element: String, message: String) throws {
        let xml = "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>v</name><memory>1024</memory><os><type>hvm</type></os>\(element)</domain>"
        let error = #expect(throws: DomainXMLError.self) { try DomainXMLParser.parse(xml, options: options) }
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
    }

    @Test("without <qemu:passthrough> a guest gets the default pool, and nothing is written back")
    func passthroughDefault() throws {
        let parsed = try DomainXMLParser.parse("<domain type='qemu'><name>v</name><memory>1024</memory><os><type>hvm</type></os></domain>", options: options)
        #expect(parsed.definition.qemu.passthroughMonitors == nil)
        #expect(parsed.definition.qemu.passthroughMonitorCount == QEMUNamespace.defaultPassthroughMonitors)
        #expect(!parsed.xml.contains("passthrough"))
    }

    @Test("parsing the written XML again gives the same XML (a fixed point)")
    func fixedPoint() throws {
        let first = try DomainXMLParser.parse(try Self.fixture("namespace-ns0.xml"), options: options)
        let second = try DomainXMLParser.parse(first.xml, options: options)
        #expect(second.xml == first.xml)
        #expect(second.definition == first.definition)
    }

    static let namespaceVariants: [String] = [
        "<domain type='qemu'><name>v</name><memory>1024</memory><os><type>hvm</type></os><commandline xmlns='http://libvirt.org/schemas/domain/qemu/1.0'><arg value='ARGUMENT'/></commandline></domain>",
        "<domain type='qemu'><name>v</name><memory>1024</memory><os><type>hvm</type></os><ns0:commandline xmlns:ns0='http://libvirt.org/schemas/domain/qemu/1.0'><ns1:arg xmlns:ns1='http://libvirt.org/schemas/domain/qemu/1.0' value='ARGUMENT'/></ns0:commandline></domain>",
        "<domain type='qemu' xmlns:qemu='urn:dummy'><name>v</name><memory>1024</memory><os><type>hvm</type></os><qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:arg value='ARGUMENT'/></qemu:commandline></domain>",
        "<domain type='qemu' xmlns:qemu='urn:dummy'><name>v</name><memory>1024</memory><os><type>hvm</type></os><ns0:commandline xmlns:ns0='http://libvirt.org/schemas/domain/qemu/1.0'><ns0:arg value='ARGUMENT'/></ns0:commandline></domain>",
    ]

    @Test("every namespace form libvirt's tests use means the same", arguments: namespaceVariants)
    func namespaceForms(xml: String) throws {
        let parsed = try DomainXMLParser.parse(xml, options: options)
        #expect(parsed.definition.qemu.arguments == ["ARGUMENT"])
        #expect(parsed.xml.contains("<qemu:commandline>\n    <qemu:arg value='ARGUMENT'/>\n  </qemu:commandline>"))
    }

    @Test("an element under a prefix bound to another URI is not the namespace; it is kept and listed")
    func wrongNamespace() throws {
        let xml = "<domain type='qemu' xmlns:qemu='urn:dummy'><name>v</name><memory>1024</memory><os><type>hvm</type></os><qemu:commandline><qemu:arg value='X'/></qemu:commandline></domain>"
        let parsed = try DomainXMLParser.parse(xml, options: options)
        #expect(parsed.definition.qemu.arguments.isEmpty)
        #expect(parsed.xml.contains("urn:dummy"))
        #expect(parsed.unmodelled.contains { $0.contains("commandline") })
    }

    @Test("libvirt's defaults are filled in")
    func defaults() throws {
        let xml = """
            <domain type='kvm'><name>d</name><memory unit='GiB'>1</memory><os><type machine='q35'>hvm</type></os>
            <devices><disk><source file='/x.img'/><target dev='sda'/></disk><disk device='cdrom'><target dev='hdc'/></disk>
            <interface type='network'><source network='default'/></interface><serial type='pty'/></devices></domain>
            """
        let parsed = try DomainXMLParser.parse(xml, options: options)
        let d = parsed.definition
        #expect(d.uuid.count == 36)
        #expect(d.memoryKiB == 1_048_576 && d.currentMemoryKiB == 1_048_576)
        #expect(d.vcpus == 1)
        #expect(d.os.machine == "pc-q35-7.2" && d.os.arch == "x86_64" && d.os.bootDevices == [.hd])
        #expect(d.onPoweroff == .destroy && d.onReboot == .restart && d.onCrash == .destroy)
        #expect(d.devices.emulator == "/usr/bin/qemu-system-x86_64")
        #expect(d.devices.disks.map(\.targetBus) == [.scsi, .ide])
        #expect(d.devices.disks[1].readonly)
        #expect(d.devices.controllers.contains { $0.type == .pci && $0.model == "pcie-root" })
        #expect(d.devices.memballoon?.model == .virtio)
        #expect(d.devices.inputs.map(\.type) == [.mouse, .keyboard])
        #expect(d.devices.consoles.first?.targetType == "serial")
        #expect(d.devices.interfaces.first?.mac?.hasPrefix("52:54:00:") == true)
        #expect(parsed.xml.contains("<vcpu placement='static'>1</vcpu>"))
        #expect(parsed.xml.contains("<clock offset='utc'/>"))
        #expect(parsed.unmodelled.isEmpty, "\(parsed.unmodelled)")
    }

    @Test("a missing machine takes the emulator's default")
    func defaultMachine() throws {
        let parsed = try DomainXMLParser.parse("<domain type='qemu'><name>d</name><memory>1</memory><os><type>hvm</type></os></domain>", options: options)
        #expect(parsed.definition.os.machine == "pc-i440fx-7.2")
        #expect(parsed.definition.devices.controllers.contains { $0.model == "pci-root" })
    }

    @Test("memory units as libvirt scales them", arguments: [
        ("b", "4096", UInt64(4)), ("bytes", "1025", 2), ("KB", "1024", 1000), ("k", "7", 7), ("KiB", "7", 7), ("MB", "1", 977),
        ("M", "2", 2048), ("MiB", "2", 2048), ("GB", "1", 976_563), ("G", "1", 1_048_576), ("TiB", "1", 1_073_741_824),
    ])
    func units(unit: String, value: String, kib: UInt64) throws {
        let xml = "<domain type='qemu'><name>d</name><memory unit='\(unit)'>\(value)</memory><os><type>hvm</type></os></domain>"
        #expect(try DomainXMLParser.parse(xml, options: options).definition.memoryKiB == kib)
    }

    @Test("everything Corral does not model is kept and listed")
    func unmodelled() throws {
        let xml = """
            <domain type='kvm' xmlns:x='urn:x'><name>d</name><memory>1024</memory><os><type>hvm</type></os>
            <metadata><x:app>opaque</x:app></metadata>
            <idmap><uid start='0' target='1000' count='10'/></idmap>
            <devices><disk rawio='yes'><source file='/a'/><target dev='vda'/></disk><nvram/></devices>
            <x:custom/>
            </domain>
            """
        let parsed = try DomainXMLParser.parse(xml, options: options)
        for kept in ["<idmap>", "<uid start='0' target='1000' count='10'/>", "rawio='yes'", "<nvram/>", "<x:custom", "opaque</x:app>"] {
            #expect(parsed.xml.contains(kept), "\(kept) must be written back")
        }
        let listed = parsed.unmodelled.joined(separator: "\n")
        #expect(listed.contains("<idmap>"))
        #expect(listed.contains("attribute 'rawio' of <devices/disk>"))
        #expect(listed.contains("<devices/nvram>"))
        #expect(listed.contains("x:custom"))
        #expect(!listed.contains("app"), "metadata is opaque, not unmodelled")
    }

    static let invalid: [(String, String)] = [
        ("<qemu:commandline><qemu:env name='1X' value='y'/></qemu:commandline>", "must begin with a letter or underscore"),
        ("<qemu:commandline><qemu:env name='A-B'/></qemu:commandline>", "only alphanumerics and underscore"),
        ("<qemu:commandline><qemu:arg/></qemu:commandline>", "No qemu command-line argument specified"),
        ("<qemu:commandline><qemu:env/></qemu:commandline>", "No qemu environment name specified"),
        ("<qemu:capabilities><qemu:add/></qemu:capabilities>", "missing capability name"),
        ("<qemu:override><qemu:device><qemu:frontend/></qemu:device></qemu:override>", "missing 'alias' attribute"),
        ("<qemu:override><qemu:device alias='a'><qemu:frontend><qemu:property name='id' type='string' value='x'/></qemu:frontend></qemu:device></qemu:override>", "can't be overridden"),
        ("<qemu:override><qemu:device alias='a'><qemu:frontend><qemu:property name='p' type='signed' value='1.5'/></qemu:frontend></qemu:device></qemu:override>", "invalid value '1.5'"),
        ("<qemu:override><qemu:device alias='a'><qemu:frontend><qemu:property name='p' type='unsigned' value='-1'/></qemu:frontend></qemu:device></qemu:override>", "invalid value '-1'"),
        ("<qemu:override><qemu:device alias='a'><qemu:frontend><qemu:property name='p' type='bool' value='yes'/></qemu:frontend></qemu:device></qemu:override>", "invalid value 'yes'"),
        ("<qemu:override><qemu:device alias='a'><qemu:frontend><qemu:property name='p' type='remove' value='x'/></qemu:frontend></qemu:device></qemu:override>", "doesn't make sense"),
        ("<qemu:override><qemu:device alias='a'><qemu:frontend><qemu:property name='p' type='float' value='1'/></qemu:frontend></qemu:device></qemu:override>", "'type'"),
        ("<qemu:commandline><qemu:alter option='-device'><qemu:match>([</qemu:match><qemu:remove/></qemu:alter></qemu:commandline>", "does not compile"),
        ("<qemu:commandline><qemu:alter option='-device'/></qemu:commandline>", "does nothing"),
        ("<qemu:commandline><qemu:alter option='-device'><qemu:remove/><qemu:rename>-x</qemu:rename></qemu:alter></qemu:commandline>", "cannot both remove"),
        ("<qemu:commandline><qemu:alter option='-device'><qemu:modify>novalue</qemu:modify></qemu:alter></qemu:commandline>", "key=value"),
        ("<qemu:commandline><qemu:alter><qemu:remove/></qemu:alter></qemu:commandline>", "needs an 'option'"),
        ("<qemu:object id='o'><path>a\"b</path></qemu:object>", "double quote"),
        ("<qemu:object id='o'><path>\(String(repeating: "x", count: 1024))</path></qemu:object>", "1023"),
        ("<qemu:name id='n'><guest>x</guest></qemu:name>", "take no id"),
        ("<qemu:chardev id='1bad'><backend>null</backend></qemu:chardev>", "not an identifier"),
        ("<qemu:object id='o' other='1'/>", "only 'id'"),
    ]

    @Test("invalid namespace content gets libvirt's message (or a clear one for Corral's additions)", arguments: invalid)
    func invalidNamespace(fragment: String, words: String) {
        let xml = "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>d</name><memory>1</memory><os><type>hvm</type></os>\(fragment)</domain>"
        do {
            _ = try DomainXMLParser.parse(xml, options: options)
            Issue.record("accepted: \(fragment)")
        } catch {
            #expect(error.message.contains(words), "\(error)")
            #expect(error.line != nil)
        }
    }

    static let refused: [(String, DomainXMLError.Kind, String)] = [
        ("<!DOCTYPE domain [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain type='kvm'><name>&e;</name></domain>", .malformed, "DTD"),
        ("<domain type='kvm'><name>&e;</name></domain>", .malformed, "undefined entity"),
        ("<domain type='kvm'><name>a</name>", .malformed, "never closed"),
        ("<vm/>", .invalid, "expecting <domain>"),
        ("<domain><name>a</name></domain>", .invalid, "missing domain type"),
        ("<domain type='xen'><name>a</name></domain>", .unsupported, "virt type 'xen'"),
        ("<domain type='kvm'><memory>1</memory></domain>", .invalid, "missing name"),
        ("<domain type='kvm'><name>a/b</name></domain>", .invalid, "cannot contain '/'"),
        ("<domain type='kvm'><name>a</name><uuid>nope</uuid></domain>", .invalid, "malformed uuid"),
        ("<domain type='kvm'><name>a</name><os><type>hvm</type></os></domain>", .invalid, "Memory size must be specified"),
        ("<domain type='kvm'><name>a</name><memory unit='parsec'>1</memory><os><type>hvm</type></os></domain>", .invalid, "unknown suffix"),
        ("<domain type='kvm'><name>a</name><memory>x</memory><os><type>hvm</type></os></domain>", .invalid, "invalid value"),
        ("<domain type='kvm'><name>a</name><memory>1</memory></domain>", .invalid, "os <type>"),
        ("<domain type='kvm'><name>a</name><memory>1</memory><os><type>xen</type></os></domain>", .unsupported, "os type 'xen'"),
        ("<domain type='kvm'><name>a</name><memory>1</memory><os><type arch='aarch64'>hvm</type></os></domain>", .unsupported, "aarch64"),
        ("<domain type='kvm'><name>a</name><memory>1</memory><vcpu>0</vcpu><os><type>hvm</type></os></domain>", .invalid, "vcpus"),
        ("<domain type='kvm'><name>a</name><memory>1</memory><os><type>hvm</type></os><devices><disk><source file='/a'/><target dev='vda'/><alias name='ua-x'/></disk><interface type='user'><alias name='ua-x'/></interface></devices></domain>", .invalid, "non unique alias"),
        ("<domain type='kvm'><name>a</name><memory>1</memory><os><type>hvm</type></os><devices><disk><target dev='vda'/></disk><disk><target dev='vda'/></disk></devices></domain>", .invalid, "duplicated"),
    ]

    @Test("hostile and invalid documents are refused with the right kind and a clear message", arguments: refused)
    func refusedDocuments(xml: String, kind: DomainXMLError.Kind, words: String) {
        do {
            _ = try DomainXMLParser.parse(xml, options: options)
            Issue.record("accepted: \(xml)")
        } catch {
            #expect(error.kind == kind, "\(error)")
            #expect(error.message.contains(words), "\(error)")
        }
    }

    @Test("a huge document is refused before it is parsed")
    func huge() {
        let xml = "<domain type='kvm'><description>" + String(repeating: "x", count: 5 << 20) + "</description></domain>"
        #expect(throws: DomainXMLError.self) { try DomainXMLParser.parse(xml, options: options) }
    }

    @Test("the live form carries the id after the type")
    func liveForm() throws {
        let parsed = try DomainXMLParser.parse("<domain type='kvm'><name>d</name><memory>1</memory><os><type>hvm</type></os></domain>", options: options)
        #expect(DomainXMLFormatter.format(parsed.document, id: 7).hasPrefix("<domain type='kvm' id='7'>"))
    }
}
