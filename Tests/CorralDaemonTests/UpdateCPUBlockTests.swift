@testable import CorralDaemon
import Testing
import XMLTree

@Suite("dumpxml --update-cpu rewrites only the definition's <cpu> block, in the formatter's layout")
struct UpdateCPUBlockTests {
    static let document = """
        <domain type='qemu'>
          <name>g</name>
          <description>text with  &lt;cpu mode='x'/&gt; inside</description>
          <cpu mode='custom' match='exact' check='none'>
            <model fallback='allow'>EPYC</model>
          </cpu>
          <clock offset='utc'/>
        </domain>

        """

    @Test("the block is found from its opening line to its closing one; a one-line <cpu/> is a block too; none is nil")
    func blocks() throws {
        let block = try #require(DomainDriver.cpuBlock(in: Self.document))
        #expect(Self.document[block] == "  <cpu mode='custom' match='exact' check='none'>\n    <model fallback='allow'>EPYC</model>\n  </cpu>")
        let single = "<domain>\n  <name>g</name>\n  <cpu mode='host-model' check='partial'/>\n</domain>\n"
        #expect(DomainDriver.cpuBlock(in: single).map { String(single[$0]) } == "  <cpu mode='host-model' check='partial'/>")
        #expect(DomainDriver.cpuBlock(in: "<domain>\n  <name>g</name>\n</domain>\n") == nil)
    }

    @Test("a block written anew reads back as the same element and sits where the old one was")
    func rewrites() throws {
        let block = try #require(DomainDriver.cpuBlock(in: Self.document))
        var cpu = try XMLTreeParser.parse(String(Self.document[block]))
        cpu[attribute: "check"] = "partial"
        cpu.children.append(.element(XMLElement(name: "feature", attributes: [XMLAttribute(name: "policy", value: "disable"), XMLAttribute(name: "name", value: "monitor")])))
        let written = try #require(DomainDriver.cpuBlock(formatting: cpu))
        #expect(written == "  <cpu mode='custom' match='exact' check='partial'>\n    <model fallback='allow'>EPYC</model>\n    <feature policy='disable' name='monitor'/>\n  </cpu>")
        var text = Self.document
        text.replaceSubrange(block, with: written)
        #expect(text.contains("  <clock offset='utc'/>\n</domain>") && text.contains("<description>text with  &lt;cpu"))
    }
}
