import CorralJSON
import DomainXML
import QEMUCommandLine
import QEMUProbe
import Testing

/// No string of a domain definition can add a QEMU option or property that the argv builder
/// did not intend: every string field carries `,id=x,readonly=off` and `-option` text, and
/// every option of the resulting argv must have exactly the keys it has without them.
@Suite("QEMU option injection")
struct InjectionTests {
    static let payload = "p,id=injected,readonly=off -option ,,x"
    /// For the first, implied value of an option (machine type, CPU model, VNC address), where
    /// `=` is refused outright (see ``impliedValueWithEquals()``).
    static let impliedPayload = "p,readonly,nodefaults -option ,,x"

    static func escaped(_ v: String) -> String { v.replacingAll("&", "&amp;").replacingAll("'", "&apos;").replacingAll("<", "&lt;") }

    static func domainXML(_ v: String, implied: String, jsonDevices: Bool) -> String {
        let a = escaped(v), i = escaped(implied)
        return """
        <domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
          <name>n\(a)</name><memory>65536</memory><vcpu>1</vcpu>
          <os><type arch='x86_64' machine='pc-i440fx-7.2\(i)'>hvm</type><loader readonly='yes' type='pflash'>/l\(a)</loader><nvram>/n\(a)</nvram>
            <kernel>/k\(a)</kernel><initrd>/i\(a)</initrd><cmdline>c\(a)</cmdline></os><features><acpi/></features>
          <cpu mode='custom'><model>m\(i)</model></cpu>
          <devices>
            <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/d\(a)'/><target dev='vda' bus='virtio'/><alias name='ua-d'/></disk>
            <disk type='file' device='cdrom'><source file='/c\(a)'/><target dev='hdc' bus='ide'/></disk>
            <interface type='bridge'><source bridge='br\(a)'/><mac address='52:54:00:00:00:01'/><model type='e1000'/></interface>
            <serial type='file'><source path='/s\(a)'/><target port='0'/></serial>
            <serial type='unix'><source mode='bind' path='/u\(a)'/><target port='1'/></serial>
            <serial type='tcp'><source mode='bind' host='h\(a)' service='4555'/><target port='2'/></serial>
            <channel type='unix'><source mode='bind' path='/ch\(a)'/><target type='virtio' name='org.x\(a)'/></channel>
            <graphics type='vnc' port='5901' autoport='no' listen='127.0.0.1\(i)'/>
            <watchdog model='i6300esb' action='reset'/>
            <rng model='virtio'><backend model='random'>/dev/r\(a)</backend></rng>
          </devices>
          \(jsonDevices ? "" : "<qemu:capabilities><qemu:del capability='device-json'/></qemu:capabilities>")
        </domain>
        """
    }

    /// The keys of a `key=value,…` value as QEMU splits it (`,,` is a literal comma), or of a
    /// JSON object.
    static func keys(_ value: String) -> [String] {
        if value.hasPrefix("{"), case .object(let members)? = try? JSONValue.parse(value) { return members.map(\.0) }
        var keys: [String] = []
        var current = ""
        var chars = Array(value)[...]
        while let c = chars.popFirst() {
            if c == "," {
                if chars.first == "," {
                    chars.removeFirst()
                    current.append(",")
                    continue
                }
                keys.append(current.split(separator: "=", maxSplits: 1).count == 2 ? String(current.split(separator: "=")[0]) : "(implied)")
                current = ""
            } else {
                current.append(c)
            }
        }
        keys.append(current.contains("=") ? String(current.split(separator: "=")[0]) : "(implied)")
        return keys
    }

    static func invocation(_ value: String, implied: String, jsonDevices: Bool) throws -> QEMUInvocation {
        let parsed = try DomainXMLParser.parse(domainXML(value, implied: implied, jsonDevices: jsonDevices))
        let context = CommandLineContext(emulator: "/usr/bin/qemu-system-x86_64", capabilities: Set(QEMUCapability.allCases), kvmUsable: false, id: 1, runDirectory: "/run/corral/domains/" + parsed.definition.name)
        return try QEMUCommandLineBuilder.build(parsed.definition, context: context)
    }

    @Test("string fields cannot add options or keys", arguments: [true, false])
    func stringFieldsCannotInject(jsonDevices: Bool) throws {
        let plain = try Self.invocation("", implied: "", jsonDevices: jsonDevices)
        let hostile = try Self.invocation(Self.payload, implied: Self.impliedPayload, jsonDevices: jsonDevices)
        #expect(plain.options.map(\.name) == hostile.options.map(\.name))
        #expect(plain.arguments.count == hostile.arguments.count)
        for (a, b) in zip(plain.options, hostile.options) {
            // These take their whole value as one string (QEMU does not split them).
            if ["-kernel", "-initrd", "-append"].contains(b.name) {
                #expect(b.value == (a.value ?? "") + Self.payload)
                continue
            }
            #expect(Self.keys(a.value ?? "") == Self.keys(b.value ?? ""), "\(b.name) \(b.value ?? "")")
        }
        // The payload did reach the argv, escaped, so the check above is not vacuous.
        #expect(hostile.arguments.contains { $0.contains("p,,id=injected,,readonly=off -option ,,,,x") })
        #expect(hostile.arguments.contains { $0.hasPrefix("pc-i440fx-7.2p,,readonly,,nodefaults -option ,,,,x,") })
        #expect(hostile.arguments.contains { $0.contains(#"p,id=injected,readonly=off -option ,,x"#) })
    }

    @Test("a first value with '=' is refused: QEMU would read it as a key")
    func impliedValueWithEquals() throws {
        #expect(throws: CommandLineError.self) { try Self.invocation("", implied: "x=y", jsonDevices: true) }
        #expect(throws: CommandLineError.self) { try QEMUKeyValue.implied("usb=on") }
    }

    @Test("comma escaping is QEMU's")
    func escaping() throws {
        #expect(QEMUKeyValue.escape("a,b,,c") == "a,,b,,,,c")
        #expect(try QEMUKeyValue.render("socket", [("id", "x"), ("path", "/run/with,comma/qmp.sock")]) == "socket,id=x,path=/run/with,,comma/qmp.sock")
        #expect(Self.keys("socket,id=x,path=/a,,id=y") == ["(implied)", "id", "path"])
    }
}

extension String {
    func replacingAll(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
