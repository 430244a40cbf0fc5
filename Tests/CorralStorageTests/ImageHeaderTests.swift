import CorralStorage
import Testing

@Suite("image headers")
struct ImageHeaderTests {
    /// A qcow2 version 3 header (104 bytes) with a backing-format extension and a backing file
    /// name after it, laid out as qemu-img writes one.
    static func qcow2(size: UInt64, backing: String, backingFormat: String) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 4096)
        func put32(_ value: UInt32, _ at: Int) { for i in 0..<4 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (24 - 8 * i)) } }
        func put64(_ value: UInt64, _ at: Int) { for i in 0..<8 { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (56 - 8 * i)) } }
        put32(0x5146_49FB, 0)
        put32(3, 4)
        put32(16, 20)
        put64(size, 24)
        put32(104, 100)
        // Extension: backing format.
        put32(0xE279_2ACA, 104)
        put32(UInt32(backingFormat.utf8.count), 108)
        bytes.replaceSubrange(112..<(112 + backingFormat.utf8.count), with: Array(backingFormat.utf8))
        let end = 112 + ((backingFormat.utf8.count + 7) & ~7)
        put32(0, end)
        put32(0, end + 4)
        let nameOffset = end + 8
        bytes.replaceSubrange(nameOffset..<(nameOffset + backing.utf8.count), with: Array(backing.utf8))
        put64(UInt64(nameOffset), 8)
        put32(UInt32(backing.utf8.count), 16)
        return bytes
    }

    @Test("qcow2: size, backing file and its format")
    func qcow2() {
        let header = ImageHeader.probe(Self.qcow2(size: 52_428_800, backing: "/pool/back.img", backingFormat: "raw"))
        var expected = ImageHeader(format: .qcow2, virtualSize: 52_428_800, backingPath: "/pool/back.img", backingFormat: .raw)
        expected.clusterSize = 65536
        #expect(header == expected)
    }

    @Test("a truncated or hostile header never reads out of bounds")
    func truncated() {
        let full = Self.qcow2(size: 1, backing: "/b", backingFormat: "qcow2")
        for length in [0, 3, 7, 20, 31, 100, 111, 130] {
            let header = ImageHeader.probe(Array(full.prefix(length)))
            #expect(length < 4 ? header.format == .raw : header.format == .qcow2)
        }
        var hostile = full
        for i in 8..<20 { hostile[i] = 0xFF }
        #expect(ImageHeader.probe(hostile).backingPath == nil)
    }

    @Test("plain bytes are raw; an ISO 9660 volume descriptor is iso")
    func rawAndISO() {
        #expect(ImageHeader.probe(Array(repeating: 0x41, count: 512)).format == .raw)
        var iso = [UInt8](repeating: 0, count: 40_000)
        iso.replaceSubrange(32769..<32774, with: Array("CD001".utf8))
        #expect(ImageHeader.probe(iso).format == .iso)
    }
}
