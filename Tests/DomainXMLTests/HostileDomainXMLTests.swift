import DomainXML
import Foundation
import Testing

/// Numbers and names from outside are range-checked where the XML is read: each is refused
/// with an error naming the field, and nothing traps.
@Suite("Hostile domain XML")
struct HostileDomainXMLTests {
    static func domain(name: String = "h", vcpu: String = "1", memory: String = "<memory>65536</memory>", devices: String = "", cpu: String = "") -> String {
        "<domain type='qemu'><name>\(name)</name>\(memory)<vcpu>\(vcpu)</vcpu>\(cpu)<os><type arch='x86_64'>hvm</type></os><devices>\(devices)</devices></domain>"
    }

    static let refused: [(String, String)] = [
        (domain(vcpu: "4294967296"), "vcpus"),
        (domain(vcpu: "16385"), "16384"),
        (domain(vcpu: "99999999999999999999999"), "vcpus"),
        (domain(memory: "<memory unit='EiB'>16</memory>"), "too large"),
        (domain(memory: "<memory unit='EiB'>15</memory>"), "too large"),
        (domain(memory: "<memory unit='b'>18446744073709551615</memory>"), "too large"),
        (domain(memory: "<memory unit='KiB'>9007199254740992</memory>"), "too large"),
        (domain(devices: "<disk type='file' device='disk'><source file='/x'/><target dev='vdaaaaaaaaaaaaaaa' bus='virtio'/></disk>"), "invalid disk target"),
        (domain(devices: "<disk type='file' device='disk'><source file='/x'/><target dev='vd' bus='virtio'/></disk>"), "invalid disk target"),
        (domain(devices: "<disk type='file' device='disk'><source file='/x'/><target dev='vdA' bus='virtio'/></disk>"), "invalid disk target"),
        (domain(devices: "<graphics type='vnc' port='70000' autoport='no'/>"), "range"),
        (domain(devices: "<graphics type='vnc' port='-5' autoport='no'/>"), "range"),
        (domain(devices: "<serial type='pty'><target port='4294967296'/></serial>"), "port"),
        (domain(devices: "<controller type='usb' index='99999999999'/>"), "index"),
        (domain(devices: "<controller type='pci' index='-5' model='pcie-root-port'/><rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>").replacingOccurrences(of: "<type arch", with: "<type machine='q35' arch"), "index"),
        (domain(devices: "<controller type='usb' index='0' model='qemu-xhci' ports='9223372036854775807'/><input type='tablet' bus='usb'/>"), "ports"),
        (domain(devices: "<controller type='usb' index='0' model='qemu-xhci' ports='-3'/><input type='tablet' bus='usb'/>"), "ports"),
        (domain(cpu: "<cpu><numa>" + (0..<3).map { "<cell id='\($0)' cpus='0' memory='8' unit='EiB'/>" }.joined() + "</numa></cpu>"), "memory"),
        (domain(devices: "<disk type='file' device='disk'><driver iothread='99999999999999999999'/><source file='/x'/><target dev='vda'/></disk>"), "iothread"),
        (domain(devices: "<memballoon model='virtio'><stats period='-1'/></memballoon>"), "period"),
        (domain(vcpu: "200", cpu: "<cpu><numa>" + (0..<200).map { "<cell id='\($0)' cpus='\($0)' memory='1024'/>" }.joined() + "</numa></cpu>"), "NUMA cells"),
        (domain(devices: "<interface type='user'><boot order='0'/></interface>"), "order"),
        (domain(devices: "<serial type='tcp'><source mode='bind' host='127.0.0.1' service='99999'/></serial>"), "service"),
        (domain(devices: "<video><model type='vga' vram='99999999999999' heads='1'/></video>"), "vram"),
        (domain(cpu: "<cpu><topology sockets='65536' dies='65536' cores='65536' threads='65536'/></cpu>"), "sockets"),
        (domain(cpu: "<cpu><topology sockets='16384' dies='16384' cores='1' threads='1'/></cpu>"), "topology"),
        (domain(name: "."), "not allowed"),
        (domain(name: ".."), "not allowed"),
        (domain(name: "a/b"), "cannot contain '/'"),
        (domain(name: "victim.xml&#0;x"), "character reference"),
        (domain(name: "a&#1;b"), "character reference"),
        (domain(name: "a\u{7F}b"), "invalid char in name"),
        (domain(cpu: "<on_poweroff>explode</on_poweroff>"), "invalid value 'explode' for <on_poweroff>"),
        (domain(cpu: "<on_reboot>coredump-destroy</on_reboot>"), "invalid value"),
        (domain(cpu: "<on_crash>coredump-restart</on_crash>"), "not supported"),
        (domain(cpu: "<on_reboot>preserve</on_reboot>"), "not supported"),
    ]

    @Test("out-of-range numbers and unusable names are refused with the field named", arguments: refused)
    func refusedDefinitions(xml: String, words: String) {
        do {
            let parsed = try DomainXMLParser.parse(xml)
            Issue.record("accepted: \(parsed.definition.name)")
        } catch {
            #expect(error.description.contains(words), "\(error) should mention \(words)")
        }
    }

    @Test("names libvirt accepts are accepted: commas, spaces, quotes, non-ASCII")
    func acceptedNames() throws {
        for name in ["with,comma", "with space", "quote'and\"dq", "ünïcödé-名前", "a.b", "-x", "x.xml"] {
            let escaped = name.replacingOccurrences(of: "'", with: "&apos;").replacingOccurrences(of: "\"", with: "&quot;")
            let parsed = try DomainXMLParser.parse(Self.domain(name: escaped))
            #expect(parsed.definition.name == name)
            #expect(try DomainXMLParser.parse(parsed.xml).definition.name == name)
        }
    }

    @Test("the largest values in range are accepted")
    func largestAccepted() throws {
        let parsed = try DomainXMLParser.parse(Self.domain(vcpu: "16384", memory: "<memory unit='KiB'>9007199254740991</memory>",
            devices: "<disk type='file' device='disk'><source file='/x'/><target dev='vdzzz' bus='virtio'/></disk><graphics type='vnc' port='65535' autoport='no'/>"))
        #expect(parsed.definition.vcpus == 16384)
        #expect(parsed.definition.memoryKiB == 9_007_199_254_740_991)
        #expect(DiskTarget.index(of: "vdzzz") == 18277)
        #expect(DiskTarget.index(of: "vda") == 0 && DiskTarget.index(of: "sdaa") == 26 && DiskTarget.index(of: "xvdb") == 1)
    }
}
