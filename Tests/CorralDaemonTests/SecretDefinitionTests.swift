import CorralProtocol
import Foundation
import Testing

@testable import CorralDaemon

@Suite("Secret definitions")
struct SecretDefinitionTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    @Test("a secret is written as libvirt writes it, and reads back the same")
    func formatting() throws {
        let input = """
            <secret private='yes'><description>the cluster's &lt;admin&gt; key</description>
            <uuid>0a81f5b2-8403-7b23-c8d6-21ccc2f80d6b</uuid><usage type='ceph'><name>client.admin secret</name></usage></secret>
            """
        let definition = try SecretDefinition.parse(input) { RemoteUUID.random() }
        let expected = try String(contentsOf: Self.golden.appendingPathComponent("secret-ceph-private.xml"), encoding: .utf8)
        #expect(definition.xml == expected)
        #expect(try SecretDefinition.parse(definition.xml) { RemoteUUID.random() } == definition)
        #expect(definition.handle.usageType == 2 && definition.handle.usageID == "client.admin secret")
    }

    @Test("a secret without a UUID gets a new one; without usage it has none")
    func defaults() throws {
        let fixed = RemoteUUID("d3bdbd40-3b17-4a63-9a1d-2bd2ad0a1cf4")!
        let definition = try SecretDefinition.parse("<secret/>") { fixed }
        #expect(definition.uuid == fixed && definition.usageType == .none && definition.handle.usageID == "")
        #expect(definition.xml == "<secret ephemeral='no' private='no'>\n  <uuid>d3bdbd40-3b17-4a63-9a1d-2bd2ad0a1cf4</uuid>\n</secret>\n")
    }

    @Test("libvirt's refusals", arguments: [
        ("<secret ephemeral='perhaps'/>", "invalid value of 'ephemeral'"),
        ("<secret><usage/></secret>", "unknown secret usage type"),
        ("<secret><usage type='smb'/></secret>", "unknown secret usage type smb"),
        ("<secret><usage type='volume'/></secret>", "volume usage specified, but volume path is missing"),
        ("<secret><uuid>12</uuid></secret>", "malformed uuid element"),
        ("<pool/>", "expecting root element of 'secret', not 'pool'"),
        ("<secret", "(definition_of_secret)"),
    ])
    func refusals(_ xml: String, _ message: String) {
        #expect {
            try SecretDefinition.parse(xml) { RemoteUUID.random() }
        } throws: { error in
            (error as? RemoteError)?.message?.contains(message) == true
        }
    }
}
