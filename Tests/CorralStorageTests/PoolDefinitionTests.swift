import CorralStorage
import Testing

@Suite("pool XML")
struct PoolDefinitionTests {
    static let fixedUUID = "4109f7f1-0473-4372-8469-ecb7a74e6121"

    static func parse(_ xml: String) throws -> PoolDefinition {
        try PoolDefinition.parse(xml, newUUID: { fixedUUID })
    }

    @Test("each backend's definition reads with libvirt's defaults and writes as libvirt writes it", arguments: [
        ("dir", "<pool type='dir'><name>images</name><target><path>/var//lib/images/</path><permissions><mode>0700</mode><owner>-1</owner><group>107</group></permissions></target></pool>"),
        ("fs", "<pool type='fs'><name>fs1</name><uuid>0B1E3D6A5C2F4E8B9A7D1C3E5F7A9B1D</uuid><source><device path='/dev/loop7'/></source><target><path>/mnt/fs1</path></target></pool>"),
        ("netfs", "<pool type='netfs'><name>nfs</name><source><host name='127.0.0.1'/><dir path='/srv/export/'/><format type='nfs'/></source><target><path>/mnt/nfs</path></target></pool>"),
        ("logical", "<pool type='logical'><name>vg0</name><source><device path='/dev/loop3'/></source></pool>"),
    ])
    func formats(name: String, xml: String) throws {
        try GoldenFile.check(PoolXMLFormatter.format(try Self.parse(xml)), "pool-\(name).xml")
    }

    @Test("a running pool shows its sizes and its directory's permissions")
    func runningPool() throws {
        let pool = try Self.parse("<pool type='dir'><name>p</name><target><path>/p</path></target></pool>")
        let text = PoolXMLFormatter.format(pool, sizes: .init(capacity: 100, allocation: 40, available: 60), permissions: .init(mode: 0o755, owner: 0, group: 0))
        #expect(text.contains("<capacity unit='bytes'>100</capacity>\n  <allocation unit='bytes'>40</allocation>\n  <available unit='bytes'>60</available>"))
        #expect(text.contains("<permissions>\n      <mode>0755</mode>\n      <owner>0</owner>\n      <group>0</group>\n    </permissions>"))
    }

    /// The messages are libvirtd 9.0's for the same XML (pool-define against the reference daemon),
    /// except where Corral is stricter (relative paths, names that are not file names).
    @Test("bad pool XML is refused with libvirt's message", arguments: [
        ("<pool type='foo'><name>x</name><target><path>/tmp/x</path></target></pool>", "Invalid value for attribute 'type' in element 'pool': 'foo'."),
        ("<pool type='dir'><target><path>/tmp/x</path></target></pool>", "missing pool source name element"),
        ("<pool type='dir'><name>x</name></pool>", "missing storage pool target path"),
        ("<pool type='dir'><name>x/y</name><target><path>/tmp/x</path></target></pool>", "name x/y cannot contain '/'"),
        ("<pool type='dir'><name>x5</name><uuid>bad</uuid><target><path>/tmp/x5</path></target></pool>", "malformed uuid element"),
        ("<pool type='dir'><name>x6</name><target><path>/tmp/x6</path><permissions><mode>0999</mode></permissions></target></pool>", "malformed octal mode"),
        ("<pool type='fs'><name>x8</name><target><path>/tmp/x8</path></target></pool>", "missing storage pool source device name"),
        ("<pool type='netfs'><name>x10</name><target><path>/tmp/x10</path></target></pool>", "missing storage pool source host name"),
        ("<pool type='fs'><name>x</name><source><device path='/dev/x'/><format type='ntfs-3g'/></source><target><path>/x</path></target></pool>", "unknown pool format type ntfs-3g"),
        ("<pool type='dir'><name>x4</name><target><path>relative</path></target></pool>", "storage pool target path 'relative' must be absolute"),
        ("<pool type='dir'><name>.</name><target><path>/x</path></target></pool>", "name '.' is not allowed for a storage pool"),
        ("<pool type='dir'><name>..</name><target><path>/x</path></target></pool>", "name '..' is not allowed for a storage pool"),
        ("<domain type='kvm'/>", "unexpected root element <domain>, expecting <pool>"),
    ])
    func refusals(xml: String, message: String) {
        #expect(throws: StorageError(.xml, message)) { try Self.parse(xml) }
    }

    @Test("two pools conflict when they would manage the same storage")
    func conflicts() throws {
        let a = try Self.parse("<pool type='dir'><name>a</name><target><path>/srv/x</path></target></pool>")
        let b = try Self.parse("<pool type='dir'><name>b</name><target><path>/srv//x/</path></target></pool>")
        let c = try Self.parse("<pool type='dir'><name>c</name><target><path>/srv/y</path></target></pool>")
        #expect(a.sharesSource(with: b))
        #expect(!a.sharesSource(with: c))
    }

    @Test("the capabilities document says yes only for Corral's backends")
    func capabilities() throws {
        let text = PoolCapabilitiesXML.format()
        try GoldenFile.check(text, "pool-capabilities.xml")
        #expect(text.contains("<pool type='rbd' supported='no'>"))
        #expect(text.contains("<pool type='dir' supported='yes'>"))
    }
}
