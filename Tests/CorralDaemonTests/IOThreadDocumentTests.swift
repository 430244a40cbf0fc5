@testable import CorralDaemon
import DomainXML
import Testing
import XMLTree

@Suite("I/O thread documents")
struct IOThreadDocumentTests {
    static func threads(_ document: XMLElement) -> (count: String?, listed: [String]?) {
        (document.element(named: "iothreads")?.text, document.element(named: "iothreadids")?.elements(named: "iothread").compactMap { $0[attribute: "id"] })
    }

    @Test("an added thread lists every id, after <vcpu>")
    func add() throws {
        var document = try XMLTreeParser.parse("<domain><name>d</name><memory>1024</memory><vcpu>2</vcpu><iothreads>2</iothreads><os/></domain>")
        IOThreadDocument.add(&document, id: 5)
        #expect(Self.threads(document).count == "3" && Self.threads(document).listed == ["1", "2", "5"])
        #expect(document.elements.map(\.name) == ["name", "memory", "vcpu", "iothreads", "iothreadids", "os"])
        var empty = try XMLTreeParser.parse("<domain><name>d</name><os/></domain>")
        IOThreadDocument.add(&empty, id: 1)
        #expect(Self.threads(empty).count == "1" && empty.elements.map(\.name) == ["name", "iothreads", "iothreadids", "os"])
    }

    @Test("a removed thread keeps the others' ids and takes its pin along")
    func remove() throws {
        let text = "<domain><name>d</name><vcpu>2</vcpu><iothreads>3</iothreads><cputune><iothreadpin iothread='1' cpuset='0'/><iothreadpin iothread='3' cpuset='1'/></cputune></domain>"
        // The last of 1…3: the rest are still 1…n, so no list is written (as the document had none).
        var last = try XMLTreeParser.parse(text)
        IOThreadDocument.remove(&last, id: 3)
        #expect(Self.threads(last).count == "2" && Self.threads(last).listed == nil)
        #expect(last.element(named: "cputune")?.elements.compactMap { $0[attribute: "iothread"] } == ["1"])
        // The first: 2 and 3 are listed, or reading the document again would renumber them.
        var first = try XMLTreeParser.parse(text)
        IOThreadDocument.remove(&first, id: 1)
        #expect(Self.threads(first).count == "2" && Self.threads(first).listed == ["2", "3"])
        #expect(IOThreadDocument.ids(first) == [2, 3])
        // All of them: neither element stays.
        var all = try XMLTreeParser.parse("<domain><name>d</name><iothreads>1</iothreads><iothreadids><iothread id='4'/></iothreadids></domain>")
        IOThreadDocument.remove(&all, id: 4)
        #expect(all.elements.map(\.name) == ["name"])
    }

    @Test("a thread a disk or controller uses is named in libvirt's refusal")
    func users() throws {
        let document = try XMLTreeParser.parse("""
            <domain><iothreads>3</iothreads><devices>
            <disk type='file' device='disk'><driver name='qemu' iothread='2'/><target dev='vdc' bus='virtio'/></disk>
            <controller type='scsi' model='virtio-scsi'><driver iothread='3'/></controller>
            </devices></domain>
            """)
        #expect(IOThreadDocument.user(of: 1, in: document) == nil)
        #expect(IOThreadDocument.user(of: 2, in: document) == "cannot remove IOThread 2 since it is being used by disk 'vdc'")
        #expect(IOThreadDocument.user(of: 3, in: document) == "cannot remove IOThread '3' since it is being used by controller")
    }
}
