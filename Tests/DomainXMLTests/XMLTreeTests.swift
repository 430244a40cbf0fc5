import Testing
import XMLTree

@Suite("XML tree parser and writer")
struct XMLTreeTests {
    @Test("entities, character references, CDATA and namespaces are resolved")
    func basics() throws {
        let root = try XMLTreeParser.parse("""
            <?xml version='1.0'?>
            <!-- a comment -->
            <a xmlns:p='urn:p' x='1 &amp; &#50;'><p:b p:y="&lt;z&gt;">t&apos;&#x41;<![CDATA[<raw>]]></p:b><c xmlns='urn:d'/></a>
            """)
        #expect(root.name == "a" && root.namespace == nil)
        #expect(root[attribute: "x"] == "1 & 2")
        let b = try #require(root.elements.first)
        #expect(b.namespace == "urn:p" && b.prefix == "p" && b.line == 3)
        #expect(b.attributes.first?.namespace == "urn:p" && b.attributes.first?.value == "<z>")
        #expect(b.text == "t'A<raw>")
        #expect(root.elements.last?.namespace == "urn:d")
    }

    static let refused: [(String, String)] = [
        ("<!DOCTYPE a [<!ENTITY x 'y'>]><a/>", "DTD"),
        ("<a>&x;</a>", "undefined entity"),
        ("<a><b></a>", "closes <b>"),
        ("<a x='1' x='2'/>", "twice"),
        ("<p:a/>", "not declared"),
        ("<a/><b/>", "after the root"),
        ("", "empty"),
        ("<a x=1/>", "quoted"),
        ("<a>&#0;</a>", "invalid character reference"),
        ("<a", "unterminated"),
        ("<a><!ENTITY x 'y'></a>", "not accepted"),
    ]

    @Test("malformed and hostile documents are refused with a reason", arguments: refused)
    func refusedDocuments(text: String, words: String) {
        do {
            _ = try XMLTreeParser.parse(text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.message.contains(words), "\(error)")
        }
    }

    @Test("limits bound size and depth")
    func limits() {
        let deep = String(repeating: "<a>", count: 200) + String(repeating: "</a>", count: 200)
        #expect(throws: XMLParseError.self) { try XMLTreeParser.parse(deep, limits: XMLParseLimits(maximumDepth: 64)) }
        let big = "<a>" + String(repeating: "x", count: 5000) + "</a>"
        #expect(throws: XMLParseError.self) { try XMLTreeParser.parse(big, limits: XMLParseLimits(maximumBytes: 4096)) }
    }

    @Test("errors carry the line")
    func lines() {
        do {
            _ = try XMLTreeParser.parse("<a>\n<b>\n</c>\n</a>")
            Issue.record("accepted")
        } catch {
            #expect(error.line == 3)
        }
    }

    @Test("the writer indents, single-quotes, escapes and declares namespaces where needed")
    func writer() throws {
        let root = try XMLTreeParser.parse("<a x=\"it's\"><b>1 &lt; 2</b><q:c xmlns:q='urn:q'/><m>text <i>mixed</i> here</m></a>")
        let text = XMLTreeWriter().write(root)
        #expect(text == """
            <a x='it&apos;s'>
              <b>1 &lt; 2</b>
              <q:c xmlns:q='urn:q'/>
              <m>text <i>mixed</i> here</m>
            </a>

            """)
        #expect(try XMLTreeParser.parse(text) == XMLTreeParser.parse(text))
    }
}
