import CorralStorage
import Testing

@Suite("volume XML")
struct VolumeDefinitionTests {
    @Test("a qcow2 volume with a backing store reads every field")
    func reads() throws {
        let volume = try VolumeDefinition.parse("""
            <volume><name>main.qcow2</name><capacity unit='G'>2</capacity><allocation>0</allocation>
            <target><format type='qcow2'/><compat>1.1</compat><features><lazy_refcounts/></features>
            <permissions><mode>0644</mode><owner>107</owner></permissions></target>
            <backingStore><path>/p/base.img</path><format type='raw'/></backingStore></volume>
            """)
        #expect(volume == VolumeDefinition(
            name: "main.qcow2", capacity: 2 << 30, allocation: 0, format: .qcow2, permissions: .init(mode: 0o644, owner: 107),
            compat: "1.1", lazyRefcounts: true, backingPath: "/p/base.img", backingFormat: .raw))
    }

    @Test("a backing store may give the capacity")
    func capacityFromBacking() throws {
        let volume = try VolumeDefinition.parse("<volume><name>o</name><target><format type='qcow2'/></target><backingStore><path>/b</path></backingStore></volume>")
        #expect(volume.capacity == nil)
    }

    /// The messages are libvirtd 9.0's for the same XML (vol-create against the reference daemon).
    @Test("bad volume XML is refused with libvirt's message", arguments: [
        ("<volume><capacity>1</capacity></volume>", StorageError(.xml, "missing volume name element")),
        ("<volume><name>c</name></volume>", StorageError(.xml, "missing capacity element")),
        ("<volume><name>c</name><capacity>-1</capacity></volume>", StorageError(.xml, "malformed capacity element")),
        ("<volume><name>c</name><capacity unit='zz'>1</capacity></volume>", StorageError(.invalidArgument, "unknown suffix 'zz'", fromUtility: true)),
        ("<volume><name>c</name><capacity unit='E'>100</capacity></volume>", StorageError(.overflow, "value too large: 100E", fromUtility: true)),
        ("<volume><name>d</name><capacity>1</capacity><target><format type='bogus'/></target></volume>", StorageError(.configUnsupported, "unknown volume format type bogus")),
        ("<volume><name>d</name><capacity>1</capacity><target><format type='qcow2'/><encryption format='luks'/></target></volume>", StorageError(.configUnsupported, "encrypted volumes are not supported by Corral")),
    ])
    func refusals(xml: String, error: StorageError) {
        #expect(throws: error) { try VolumeDefinition.parse(xml) }
    }

    @Test("names that would leave the pool's directory are refused", arguments: ["../x", "a/b", "/", ".", "..", ""])
    func names(name: String) {
        #expect(StorageName.volumeProblem(name) != nil)
    }

    @Test("a volume's XML is libvirt's, with its backing store")
    func formats() throws {
        let times = VolumeDescription.Timestamps(access: (1796081094, 969572130), modification: (1796081094, 964877374), change: (1796081094, 0))
        var volume = VolumeDescription(
            name: "f.qcow2", key: "/p/f.qcow2", path: "/p/f.qcow2", type: .file, format: .qcow2, capacity: 20_971_520, allocation: 200_704,
            physical: 196_616, permissions: .init(mode: 0o600, owner: 0, group: 0), timestamps: times,
            backing: .init(path: "/p/b.img", format: .raw, permissions: .init(mode: 0o600, owner: 0, group: 0), timestamps: times))
        volume.clusterSize = 65536
        try GoldenFile.check(VolumeXMLFormatter.format(volume), "volume-qcow2-backing.xml")
    }
}
