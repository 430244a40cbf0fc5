import QEMUConfig
import Testing

@Suite("Writer, XML form and round trips")
struct WriterAndXMLTests {
    /// A file using many groups, with and without ids, in canonical form.
    static let canonical = """
        # qemu config file

        [name]
          guest = "cfgtest"

        [machine]
          type = "q35"
          smp.cpus = "2"

        [memory]
          size = "256"

        [smp-opts]
          cpus = "2"

        [accel]
          accel = "tcg"

        [rtc]
          base = "utc"

        [object "rng0"]
          qom-type = "rng-random"
          filename = "/dev/urandom"

        [chardev "mon0"]
          backend = "socket"
          path = "/tmp/x.sock"
          server = "on"
          wait = "off"

        [mon]
          chardev = "mon0"
          mode = "control"

        [netdev "hostnet"]
          type = "user"

        [drive "disk"]
          file = "/dev/null"
          format = "raw"
          if = "none"

        [device "rng-dev"]
          driver = "virtio-rng-pci"
          rng = "rng0"

        [device]
          driver = "virtio-net-pci"
          netdev = "hostnet"

        [global]
          driver = "cfi.pflash01"
          property = "secure"
          value = "on"

        [empty-ish]

        """ + "\n"

    @Test("the writer produces QEMU's canonical form, byte for byte")
    func writerIsCanonical() throws {
        let file = try QEMUConfigReader(knownGroups: nil).read(Self.canonical)
        #expect(try QEMUConfigWriter.write(file) == Self.canonical)
    }

    @Test("config → XML → config is byte-exact, and XML → config → XML too")
    func roundTrips() throws {
        let file = try QEMUConfigReader(knownGroups: nil).read(Self.canonical)
        let xml = try QEMUConfigXMLWriter.document(file)
        let back = try QEMUConfigXMLReader.read(xml)
        #expect(back == file)
        #expect(try QEMUConfigWriter.write(back) == Self.canonical)
        #expect(try QEMUConfigXMLWriter.document(back) == xml)
    }

    @Test("the XML form is the documented shape")
    func xmlShape() throws {
        let file = QEMUConfigFile(sections: [.init(group: "object", id: "rng0", entries: [.init(key: "qom-type", value: "rng-random"), .init(key: "filename", value: "/dev/urandom")])])
        #expect(try QEMUConfigXMLWriter.document(file) == """
            <qemu:config xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
              <qemu:object id='rng0'>
                <qom-type>rng-random</qom-type>
                <filename>/dev/urandom</filename>
              </qemu:object>
            </qemu:config>

            """)
    }

    @Test("values needing XML escapes survive the XML form")
    func escaping() throws {
        let file = QEMUConfigFile(sections: [.init(group: "name", entries: [.init(key: "guest", value: "a<b>&'c' é")])])
        let xml = try QEMUConfigXMLWriter.document(file)
        #expect(xml.contains("a&lt;b&gt;&amp;'c' é"))
        #expect(try QEMUConfigXMLReader.read(xml) == file)
    }

    @Test("the namespace is matched by URI whatever the prefix; keys may carry it")
    func anyPrefix() throws {
        let xml = """
            <q:config xmlns:q='http://libvirt.org/schemas/domain/qemu/1.0'>
              <q:object id='o1'><q:qom-type>rng-random</q:qom-type><filename>/dev/urandom</filename></q:object>
              <q:device><driver>virtio-rng-pci</driver><rng>o1</rng></q:device>
            </q:config>
            """
        let file = try QEMUConfigXMLReader.read(xml)
        #expect(file.sections.map(\.group) == ["object", "device"])
        #expect(file.sections[0].entries.map(\.key) == ["qom-type", "filename"])
        #expect(file.sections[1]["rng"] == "o1")
    }

    @Test("a domain XML yields its qemu-namespace sections, not libvirt's own elements")
    func fromDomain() throws {
        let xml = """
            <domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
              <name>vm</name>
              <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
              <qemu:commandline><qemu:arg value='-S'/></qemu:commandline>
              <qemu:object id='rng0'><qom-type>rng-random</qom-type></qemu:object>
              <qemu:capabilities><qemu:add capability='x'/></qemu:capabilities>
              <qemu:machine><type>q35</type></qemu:machine>
            </domain>
            """
        let file = try QEMUConfigXMLReader.read(xml)
        #expect(file.sections == [
            .init(group: "object", id: "rng0", entries: [.init(key: "qom-type", value: "rng-random")]),
            .init(group: "machine", entries: [.init(key: "type", value: "q35")]),
        ])
    }

    static let badXML: [(String, String)] = [
        ("<!DOCTYPE x [<!ENTITY a 'b'>]><qemu:config xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'/>", "declarations"),
        ("<qemu:config xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:name><guest>a</guest>", "malformed XML"),
        ("<config/>", "expected a <qemu:config>"),
        ("<qemu:config xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name/></qemu:config>", "not in the qemu namespace"),
        ("<qemu:config xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:name>text</qemu:name></qemu:config>", "directly inside a section"),
        ("<qemu:config xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:name><guest><x/></guest></qemu:name></qemu:config>", "holds only text"),
        ("<qemu:config xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><qemu:name foo='1'/></qemu:config>", "only 'id'"),
    ]

    @Test("hostile and malformed XML get clear errors", arguments: badXML)
    func badDocuments(xml: String, words: String) {
        do {
            _ = try QEMUConfigXMLReader.read(xml)
            Issue.record("accepted: \(xml)")
        } catch {
            #expect(error.description.contains(words), "\(error)")
        }
    }

    @Test("values the file format cannot hold are refused by the writer", arguments: ["a\"b", "two\nlines", String(repeating: "x", count: 1024)])
    func unwritableValues(value: String) {
        let file = QEMUConfigFile(sections: [.init(group: "name", entries: [.init(key: "guest", value: value)])])
        #expect(throws: QEMUConfigError.self) { try QEMUConfigWriter.write(file) }
    }

    @Test("keys that cannot be XML names are refused by the XML writer")
    func unwritableKeys() {
        let file = QEMUConfigFile(sections: [.init(group: "device", entries: [.init(key: "1bad", value: "x")])])
        #expect(throws: QEMUConfigError.self) { try QEMUConfigXMLWriter.document(file) }
    }

    @Test("XML errors carry line numbers")
    func xmlLines() {
        let xml = "<qemu:config xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n\n  <qemu:name>\n    oops\n  </qemu:name>\n</qemu:config>"
        do {
            _ = try QEMUConfigXMLReader.read(xml)
            Issue.record("accepted")
        } catch {
            #expect(error.diagnostics.first.map { $0.line >= 3 && $0.line <= 5 } == true, "\(error)")
        }
    }
}

/// Inputs the fuzzers found, kept as regular tests.
@Suite("Fuzzer findings")
struct FuzzerFindingTests {
    @Test("a value with a control character XML cannot carry is refused by the XML writer, not written broken")
    func controlCharacterInValue() throws {
        let text = "[machine]\n  type = \"q35<<4\u{11}\u{11}&<xml<\"\n"
        let file = try QEMUConfigReader().read(text)
        #expect(throws: QEMUConfigError.self) { try QEMUConfigXMLWriter.document(file) }
    }
}
