import Foundation
import SeededRandom
import Testing
import XMLTree

/// parse → write → parse is the identity: on the fixtures, on generated trees whose names,
/// attribute values and text hold every character that needs care, and on mutated documents
/// (whatever parses must survive the round trip).
@Suite("XML round trip")
struct XMLRoundTripTests {
    /// The meaning of an element: what the writer must keep (not lines, not prefixes, not
    /// white space between child elements, not how text was split into nodes).
    struct Meaning: Equatable {
        var name: String
        var namespace: String?
        var attributes: [String]
        var children: [Child]
        enum Child: Equatable {
            case text(String)
            case element(Meaning)
        }

        init(_ e: XMLElement) {
            name = e.name
            namespace = e.namespace
            attributes = e.attributes.map { "\($0.namespace ?? "")|\($0.name)=\($0.value)" }
            let hasElements = !e.elements.isEmpty
            var children: [Child] = []
            for child in e.children {
                switch child {
                case .text(let t):
                    if hasElements && e.hasOnlyWhitespaceText { continue }
                    if case .text(let previous)? = children.last {
                        children[children.count - 1] = .text(previous + t)
                    } else if !t.isEmpty {
                        children.append(.text(t))
                    }
                case .element(let c): children.append(.element(Meaning(c)))
                }
            }
            self.children = children
        }
    }

    static func assertRoundTrip(_ root: XMLElement, _ origin: String) {
        let written = XMLTreeWriter().write(root)
        do {
            let again = try XMLTreeParser.parse(written)
            #expect(Meaning(again) == Meaning(root), "round trip changed \(origin):\n\(written)")
        } catch {
            Issue.record("the writer's output does not parse (\(error)) for \(origin):\n\(written)")
        }
    }

    @Test("fixtures")
    func fixtures() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) where name.hasSuffix(".xml") {
            let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            Self.assertRoundTrip(try XMLTreeParser.parse(text), name)
        }
    }

    typealias Generator = SeededGenerator

    static let pieces = ["a", " ", "\t", "\n", "\r", "\r\n", "&", "<", ">", "'", "\"", "]]>", "é", "😀", "x,y", "&amp;", "  "]
    static let namespaces = [nil, "urn:a", "http://libvirt.org/schemas/domain/qemu/1.0"]

    static func value(using g: inout Generator) -> String {
        (0..<Int.random(in: 0..<5, using: &g)).map { _ in pieces.randomElement(using: &g)! }.joined()
    }

    static func tree(depth: Int, using g: inout Generator) -> XMLElement {
        let namespace = namespaces.randomElement(using: &g)!
        var e = XMLElement(name: ["a", "b", "disk", "x.y", "n-1"].randomElement(using: &g)!, namespace: namespace, prefix: namespace == nil ? nil : "p\(depth % 2)")
        for i in 0..<Int.random(in: 0..<3, using: &g) {
            let attributeNamespace = Bool.random(using: &g) ? nil : "urn:attr"
            e.attributes.append(XMLAttribute(name: "k\(i)", value: value(using: &g), namespace: attributeNamespace, prefix: attributeNamespace == nil ? nil : "q"))
        }
        if depth < 4 {
            for _ in 0..<Int.random(in: 0..<4, using: &g) {
                if Bool.random(using: &g) { e.children.append(.text(value(using: &g))) } else { e.children.append(.element(tree(depth: depth + 1, using: &g))) }
            }
        }
        return e
    }

    @Test("generated trees with every character that needs escaping")
    func generatedTrees() throws {
        var g = Generator(seed: 42)
        for n in 0..<2000 {
            let root = Self.tree(depth: 0, using: &g)
            // Start from what a parser can produce: parse what the writer makes once.
            let first = try XMLTreeParser.parse(XMLTreeWriter().write(root))
            Self.assertRoundTrip(first, "generated tree \(n)")
            // Attribute values and text keep tabs, line feeds and carriage returns exactly.
            for attribute in root.attributes {
                #expect(first.attributes.first { $0.name == attribute.name }?.value == attribute.value, "attribute \(attribute.name) of tree \(n)")
            }
        }
    }

    @Test("mutated documents: whatever parses survives the round trip")
    func mutatedDocuments() throws {
        var g = Generator(seed: 9)
        let seeds = [
            "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'><name>a&amp;b</name><qemu:commandline><qemu:arg value='-x&#10;y'/></qemu:commandline></domain>",
            "<a x='1&#9;2' y=\"&quot;\"><b>t<![CDATA[<c>]]>&#13;</b><!-- c --><?pi x?></a>",
        ]
        let bytes: [UInt8] = Array("<>/='\"&;#x9aAb:\n\r\t ]![".utf8) + [0, 1, 0xC3, 0xA9]
        var parsed = 0
        for n in 0..<20000 {
            var doc = Array(seeds[n % seeds.count].utf8)
            for _ in 0..<Int.random(in: 1...3, using: &g) {
                let position = Int.random(in: 0..<doc.count, using: &g)
                switch Int.random(in: 0..<3, using: &g) {
                case 0: doc[position] = bytes.randomElement(using: &g)!
                case 1: doc.insert(bytes.randomElement(using: &g)!, at: position)
                default: if doc.count > 1 { doc.remove(at: position) }
                }
            }
            guard let text = String(validating: doc, as: UTF8.self), let root = try? XMLTreeParser.parse(text) else { continue }
            parsed += 1
            Self.assertRoundTrip(root, "mutation \(n): \(text.debugDescription)")
        }
        #expect(parsed > 500)
    }

    @Test("characters XML 1.0 forbids are refused, raw or as references", arguments: [
        "<a>\u{0}</a>", "<a x='\u{1}'/>", "<a>\u{1F}</a>", "<a>&#0;</a>", "<a>&#1;</a>", "<a x='&#x1f;'/>", "<a>&#xD800;</a>",
        "<a>&#xFFFE;</a>", "<a>\u{FFFF}</a>", "<a><!-- \u{7} --></a>", "<a>&#x110000;</a>", "<name>victim.xml\u{0}x</name>",
    ])
    func forbiddenCharacters(_ text: String) {
        #expect(throws: XMLParseError.self) { try XMLTreeParser.parse(text) }
    }

    @Test("canWrite refuses exactly what the parser refuses")
    func canWrite() {
        for text in ["a\u{0}", "\u{1}", "x\u{1F}", "\u{FFFE}", "a\u{FFFF}b"] { #expect(!XMLTreeWriter.canWrite(text), "\(text.debugDescription)") }
        for text in ["", "a\tb\nc\rd", "\u{7F}", "\u{FFFD}", "\u{E000}", "😀", "\u{EFBF}"] { #expect(XMLTreeWriter.canWrite(text), "\(text.debugDescription)") }
    }

    @Test("allowed characters and references still parse")
    func allowedCharacters() throws {
        let root = try XMLTreeParser.parse("<a x='&#9;&#10;&#13;'>&#x7f;\u{7F}&#xE000;&#x10FFFF;</a>")
        #expect(root[attribute: "x"] == "\t\n\r")
        #expect(root.text == "\u{7F}\u{7F}\u{E000}\u{10FFFF}")
        #expect(XMLTreeWriter().write(root) == "<a x='&#9;&#10;&#13;'>\u{7F}\u{7F}\u{E000}\u{10FFFF}</a>\n")
    }
}
