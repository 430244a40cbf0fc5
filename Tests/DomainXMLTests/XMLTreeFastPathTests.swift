import Testing
import XMLTree
@testable import DomainXML

/// The tree's fast paths (byte-level reads, lookups by index, moves) give the answers of the
/// general ways they stand in for.
@Suite("XML tree fast paths")
struct XMLTreeFastPathTests {
    static let texts = [
        "", " ", "\n    ", "\t\r\n\u{0B}\u{0C}", "a", " a ", "\u{00A0}", "\u{2003}\n", " \u{301}", "\u{0600}a", "\r\n", "x\u{2028}", "\u{3000}",
    ]

    @Test("whitespace read from the bytes is Character.isWhitespace", arguments: texts)
    func whitespace(text: String) {
        #expect(text.isAllWhitespace == text.allSatisfy(\.isWhitespace))
    }

    @Test("lookups by name see elements in their namespace only, and attributes without one")
    func lookups() throws {
        let root = try XMLTreeParser.parse("<a xmlns:q='urn:q' q:k='1' k='2'><q:b/>text<b n='1'/><b n='2'/><c/></a>")
        #expect(root[attribute: "k"] == "2")
        #expect(root.element(named: "b")?[attribute: "n"] == "1")
        #expect(root.element(named: "b", namespace: "urn:q")?.attributes.isEmpty == true)
        #expect(root.elements(named: "b").map { $0[attribute: "n"] } == ["1", "2"])
        #expect(root.hasElement(named: "c") && !root.hasElement(named: "d") && !root.hasElement(named: "c", namespace: "urn:q"))
        #expect(root.elements.map(\.name) == ["b", "b", "b", "c"])
    }

    @Test("the xml prefix is bound without a declaration; an undeclared default namespace is none")
    func namespaces() throws {
        let root = try XMLTreeParser.parse("<a xml:lang='en' xmlns='urn:d'><b xmlns=''><c/></b><d/></a>")
        #expect(root.attributes.first?.namespace == "http://www.w3.org/XML/1998/namespace")
        #expect(root.namespace == "urn:d")
        let b = try #require(root.elements.first)
        #expect(b.namespace == nil && b.elements.first?.namespace == nil)
        #expect(root.elements.last?.namespace == "urn:d")
    }

    struct Refusal: Error {}

    @Test("an element changed in place is put back, also when the change throws")
    func updateElement() throws {
        var root = try XMLTreeParser.parse("<a>t<b/><c/></a>")
        root.updateElements { $0[attribute: "x"] = $0.name }
        #expect(root.elements.map { $0[attribute: "x"] } == ["b", "c"])
        #expect(throws: Refusal.self) {
            try root.updateElement(at: 1) { element in
                element[attribute: "y"] = "1"
                throw Refusal()
            }
        }
        #expect(root.elements.first?[attribute: "y"] == "1" && root.elements.first?[attribute: "x"] == "b")
        root.updateElement(at: 0) { $0.name = "changed" }
        #expect(root.text == "t")
    }

    @Test("text is escaped whether or not it needs it")
    func escaping() throws {
        for value in ["plain", "a&b", "<tag>", "it's", "say \"x\"", "tab\there", "line\nbreak", "é & ü"] {
            let element = XMLElement(name: "e", attributes: [XMLAttribute(name: "v", value: value)], children: [.text(value)])
            let back = try XMLTreeParser.parse(XMLTreeWriter().write(element))
            #expect(back[attribute: "v"] == value && back.text == value)
        }
    }
}

@Suite("PCI addresses written")
struct PCIAddressTextTests {
    @Test("hexadecimal fields are padded to their width and written in full when wider")
    func fields() throws {
        let address = DomainDefinition.PCIAddress(domain: 0xabcd, bus: 0x1f, slot: 3, function: 7, multifunction: true)
        #expect(address.description == "abcd:1f:03.7")
        #expect(address.element.attributes.map(\.value) == ["pci", "0xabcd", "0x1f", "0x03", "0x7", "on"])
        #expect(DomainDefinition.PCIAddress.hex(0, 1) == "0" && DomainDefinition.PCIAddress.hex(0x12345, 2, prefix: "0x") == "0x12345")
        #expect(DomainDefinition.PCIAddress.hex(UInt32.max, 4) == "ffffffff")
        let device = XMLElement(name: "disk", children: [.element(address.element)])
        #expect(try DomainDefinition.PCIAddress(device: device) == address)
    }
}

@Suite("Secrets found in a definition's text")
struct SecretScanTests {
    @Test("a secret word is found wherever it stands, and only a whole word's bytes count")
    func scan() {
        for text in ["passwd", "<graphics passwd='x'/>", "x cookies", "<source><cookies/></source>", "pppasswd", "ccookies"] {
            #expect(DomainSecrets.mentionsSecret(text), "\(text)")
        }
        for text in ["", "p", "passw", "cookie", "<pci/><port/><controller/>", "pass wd", "PASSWD", "é passw"] {
            #expect(!DomainSecrets.mentionsSecret(text), "\(text)")
        }
    }

    @Test("a definition with a VNC password is given out without it")
    func stripped() {
        let xml = "<domain><devices><graphics type='vnc' passwd='secret'/></devices></domain>"
        #expect(!DomainSecrets.stripped(xml).contains("secret"))
        let plain = "<domain><devices><controller type='pci'/></devices></domain>"
        #expect(DomainSecrets.stripped(plain) == plain)
    }
}
