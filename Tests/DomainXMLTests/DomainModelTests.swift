import Foundation
@testable import DomainXML
import Testing

@Suite("Typed domain model")
struct DomainModelTests {
    static func domain(devices: String = "", extra: String = "") -> String {
        "<domain type='qemu'><name>m</name><memory>65536</memory><os><type>hvm</type></os>\(extra)<devices>\(devices)</devices></domain>"
    }

    /// The messages are libvirtd 9.0's for the same documents (checked with virsh define).
    @Test("a value outside a closed set is refused at define, naming the attribute and element", arguments: [
        ("<disk type='file' device='disk'><source file='/x.img'/><target dev='vda' bus='foo'/></disk>", "Invalid value for attribute 'bus' in element 'target': 'foo'."),
        ("<graphics type='foo'/>", "Invalid value for attribute 'type' in element 'graphics': 'foo'."),
        ("<disk type='file' device='floppyx'><source file='/x.img'/><target dev='vda'/></disk>", "Invalid value for attribute 'device' in element 'disk': 'floppyx'."),
        ("<sound model='foo'/>", "Invalid value for attribute 'model' in element 'sound': 'foo'."),
        ("<interface type='foo'/>", "Invalid value for attribute 'type' in element 'interface': 'foo'."),
        ("<input type='tablet' bus='serial'/>", "Invalid value for attribute 'bus' in element 'input': 'serial'."),
        ("<video><model type='foo'/></video>", "Invalid value for attribute 'type' in element 'model': 'foo'."),
        ("<graphics/>", "Missing required attribute 'type' in element 'graphics'"),
    ])
    func unknownValues(devices: String, message: String) {
        #expect {
            try DomainXMLParser.parse(Self.domain(devices: devices))
        } throws: { error in
            (error as? DomainXMLError)?.message == message
        }
    }

    @Test("values are read into their enums, spelled as libvirt spells them")
    func typedValues() throws {
        let parsed = try DomainXMLParser.parse(Self.domain(
            devices: """
                <disk type='block' device='cdrom'><source dev='/dev/sr0'/><target dev='sda' bus='sata'/></disk>
                <interface type='bridge'><source bridge='br0'/><model type='e1000e'/></interface>
                <interface type='user'><model type='my-nic'/></interface>
                <graphics type='vnc' autoport='yes'/><video><model type='qxl'/></video><sound model='ich9'/>
                <watchdog model='i6300esb' action='inject-nmi'/><rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
                """,
            extra: "<cpu mode='host-passthrough'/><clock offset='localtime'><timer name='rtc' tickpolicy='catchup'/></clock><on_crash>preserve</on_crash>"))
        let d = parsed.definition
        #expect(d.devices.disks[0].type == .block && d.devices.disks[0].device == .cdrom && d.devices.disks[0].targetBus == .sata)
        #expect(d.devices.interfaces.map(\.type) == [.bridge, .user])
        #expect(d.devices.interfaces.map(\.model) == [.e1000e, .other("my-nic")])
        #expect(d.devices.interfaces[1].model?.name == "my-nic")
        #expect(d.devices.graphics[0].type == .vnc && d.devices.videos[0].model == .qxl && d.devices.sounds[0].model == .ich9)
        #expect(d.devices.watchdogs[0].action == .injectNMI && d.devices.rngs[0].backendModel == .random)
        #expect(d.cpu?.mode == .hostPassthrough && d.clockOffset == .localtime && d.timers.map(\.name) == [.rtc] && d.timers[0].tickpolicy == .catchup)
        #expect(d.onCrash == .preserve)
    }

    @Test("the modelled-XML check is derived from the model types' schemas")
    func schemaDerivedFromTypes() throws {
        #expect(DomainSchema.table["domain/devices/disk/target"]?.attributes == ["dev", "bus", "tray", "removable", "rotation_rate"])
        #expect(DomainSchema.table["domain/devices/disk"]?.children == Set(DomainDefinition.Disk.schema.children.map(\.name)))
        #expect(DomainSchema.table["domain/devices/*/alias"]?.attributes == ["name"])
        // Every device the model reads is in the schema, and nothing else is.
        let devices = Set(DomainDefinition.Devices.schema.children.map(\.name))
        #expect(devices == ["emulator", "disk", "controller", "lease", "interface", "serial", "console", "channel", "input", "graphics", "video", "sound", "memballoon", "rng", "watchdog", "redirdev", "filesystem", "tpm", "panic", "parallel", "audio", "hub", "shmem", "iommu", "smartcard", "memory", "hostdev", "vsock", "redirfilter", "crypto", "pstore"])
        let parsed = try DomainXMLParser.parse(Self.domain(devices: "<controller type='usb' index='0' ports='8' hotplug='on'/>", extra: "<pm><suspend-to-mem enabled='no'/><suspend-to-ram/></pm>"))
        #expect(parsed.unmodelled.contains { $0.hasPrefix("element <pm/suspend-to-ram>") })
        #expect(!parsed.unmodelled.contains { $0.hasPrefix("element <pm>") })
        #expect(parsed.unmodelled.contains { $0.hasPrefix("attribute 'hotplug' of <devices/controller>") })
        #expect(!parsed.unmodelled.contains { $0.hasPrefix("attribute 'ports' of <devices/controller>") })
        // A nested backing store is read with the first layer's schema, and named where it is.
        let chain = """
            <disk type='file' device='disk'><source file='/a.qcow2'/><backingStore type='file'><format type='qcow2'/><source file='/b.qcow2'/>\
            <backingStore type='file'><format type='raw'/><source file='/c.img' bogus='1'/><oddity/></backingStore></backingStore><target dev='vda' bus='virtio'/></disk>
            """
        let layered = try DomainXMLParser.parse(Self.domain(devices: chain, extra: ""))
        #expect(layered.unmodelled.count == 2, "\(layered.unmodelled)")
        #expect(layered.unmodelled.contains { $0.hasPrefix("attribute 'bogus' of <devices/disk/backingStore/backingStore/source>") })
        #expect(layered.unmodelled.contains { $0.hasPrefix("element <devices/disk/backingStore/backingStore/oddity>") })
    }

    /// libvirtd 9.0 numbers the same controllers this way (virsh define, then dumpxml).
    @Test("controllers without an index get libvirt's: lowest unused per type, USB 2 companions share their EHCI's")
    func controllerIndexes() throws {
        let devices = """
            <controller type='usb' model='ich9-ehci1'/><controller type='usb' model='ich9-uhci1'/><controller type='usb' model='ich9-uhci2'/>
            <controller type='usb' model='qemu-xhci' ports='15'/><controller type='pci' model='pcie-root'/>
            <controller type='pci' index='2' model='pcie-root-port'/><controller type='pci' model='pcie-root-port'/>
            <controller type='pci' model='pcie-root-port'/><controller type='virtio-serial' ports='4'/>
            """
        let parsed = try DomainXMLParser.parse(Self.domain(devices: devices).replacingOccurrences(of: "<type>hvm", with: "<type machine='q35'>hvm"))
        let controllers = parsed.definition.devices.controllers
        // q35's built-in SATA controller is added after them, as libvirt adds it.
        #expect(controllers.map(\.index) == [0, 0, 0, 1, 0, 2, 1, 3, 0, 0] && controllers.last?.type == .sata)
        #expect(controllers[3].ports == 15 && controllers[8].ports == 4)
        #expect(parsed.xml.contains("<controller type='usb' index='1' model='qemu-xhci' ports='15'>"))
        #expect(parsed.unmodelled.isEmpty)
    }

    @Test("<features> and timers are modelled: Hyper-V, KVM, SMM, vmport; unknown names refused as libvirt refuses them")
    func features() throws {
        let extra = """
            <features><acpi/><apic eoi='on'/><hyperv mode='custom'><relaxed state='on'/><spinlocks state='on' retries='8191'/>\
            <vendor_id state='on' value='Corral'/></hyperv><kvm><hidden state='on'/></kvm><vmport state='off'/><smm state='on'><tseg unit='MiB'>48</tseg></smm></features>\
            <clock offset='utc'><timer name='rtc' tickpolicy='catchup' track='wall'/><timer name='tsc' frequency='1000'/></clock>
            """
        let parsed = try DomainXMLParser.parse(Self.domain(extra: extra))
        let features = parsed.definition.features
        #expect(features.acpi && features.apic && features.apicEOI == .on && features.vmport == .off && features.smm == .on && features.tsegMiB == 48)
        #expect(features.hyperV?.isOn(.relaxed) == true && features.hyperV?.spinlockRetries == 8191 && features.hyperV?.vendorID == "Corral")
        #expect(features.kvm?.states[.hidden] == .on)
        #expect(parsed.definition.timers.map(\.track) == [.wall, nil] && parsed.definition.timers[1].frequency == 1000)
        #expect(parsed.unmodelled.isEmpty)
        for (xml, message) in [
            ("<features><turbo/></features>", "unexpected feature 'turbo'"),
            ("<features><hyperv><vendor_id state='on' value='thirteen-char'/></hyperv></features>", "HyperV vendor_id value must not be more than 12 characters."),
            ("<features><hyperv><vendor_id state='on' value='a,b'/></hyperv></features>", "HyperV vendor_id value is invalid"),
            ("<features><kvm><dirty-ring state='on' size='1000'/></kvm></features>", "dirty ring must be power of 2 and ranges [1024, 65536]"),
            ("<features><vmport state='maybe'/></features>", "Invalid value for attribute 'state' in element 'vmport': 'maybe'."),
        ] {
            #expect(throws: DomainXMLError.self) { try DomainXMLParser.parse(Self.domain(extra: xml)) }
            do {
                _ = try DomainXMLParser.parse(Self.domain(extra: xml))
            } catch {
                #expect(error.message == message)
            }
        }
    }
}
